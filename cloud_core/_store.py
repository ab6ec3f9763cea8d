"""PostgreSQL storage: binary COPY into staging, deduplicating insert, one transaction per flush.

The write path's psycopg module (with :mod:`cloud_core._alert_store`). ``Store.write`` takes a
list of ingest requests and returns one :class:`Outcome` each, after the transaction has
committed. In the same transaction, after the insert has said which batches are new, their
windows are judged (:class:`cloud_core._alerting.Alerter`, in a worker thread) and the
anomalous ones merged into the ``alerts`` episodes — exactly once per window.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

import protos
from cloud_core._alert_store import record as record_alerts
from cloud_core._alerting import Alerter, Judged
from cloud_core._capabilities import Capabilities, detect
from cloud_core._columns import (
    AckRow,
    BatchRow,
    ConformanceRow,
    HealthRow,
    SummaryRow,
    WindowRow,
    copy_types,
    insert_select,
    staging_ddl,
)
from cloud_core._copy import EncodeError, encode_copy
from cloud_core._errors import RejectedItem, StorageError
from cloud_core._judge import JudgeConfig
from cloud_core._limits import IngestLimits
from cloud_core._migrations import MIGRATIONS, current_version
from cloud_core._rows import (
    Staged,
    check_batch,
    finish_cloud,
    stage_batch,
    stage_dead_letter,
    stage_presence,
    warm_up,
)

log = logging.getLogger(__name__)

# (staging table, its binary COPY payload), in the order they are written.
Copies = list[tuple[str, bytes]]

_TS = "(timestamptz 'epoch' + ({} / 1000) * interval '1 microsecond')"

_STAGING = (
    ("stage_batches", BatchRow),
    ("stage_windows", WindowRow),
    ("stage_summaries", SummaryRow),
    ("stage_health", HealthRow),
    ("stage_acks", AckRow),
    ("stage_conformance", ConformanceRow),
)
_STAGING_DDL = "\n".join(staging_ddl(table, row) for table, row in _STAGING)
_STAGING_TYPES = {table: copy_types(row) for table, row in _STAGING}  # read once, not per flush

# One statement per flush: the parts for staged kinds that are empty are left out.
_NEW = """new AS (
    INSERT INTO batches ({cols})
    SELECT {exprs}
    FROM stage_batches b
    ON CONFLICT DO NOTHING
    RETURNING tenant, device_id, seq
), dev AS (
    INSERT INTO devices AS d (tenant, device_id, last_seq)
    SELECT tenant, device_id, max(seq) FROM new GROUP BY tenant, device_id
    ORDER BY tenant, device_id
    ON CONFLICT (tenant, device_id) DO UPDATE
    SET last_seen = now(), last_seq = greatest(d.last_seq, excluded.last_seq)
)"""
_BATCH_COLS, _BATCH_EXPRS = insert_select(
    BatchRow, "b", {"sent_ns": ("sent_at", _TS.format("b.sent_ns"))}
)
_NEW = _NEW.format(cols=_BATCH_COLS, exprs=_BATCH_EXPRS)

_WINDOW_COLS, _WINDOW_EXPRS = insert_select(
    WindowRow, "w", {"t0_ns": ("t0", _TS.format("w.t0_ns"))}
)
_WINDOWS = f"""win AS (
    INSERT INTO windows ({_WINDOW_COLS})
    SELECT {_WINDOW_EXPRS}
    FROM stage_windows w JOIN new USING (tenant, device_id, seq)
), dirty AS (
    INSERT INTO rollup_dirty (tenant, device_id, sensor, bucket)
    SELECT DISTINCT w.tenant, w.device_id, w.sensor,
           date_bin(interval '1 minute', {_TS.format("w.t0_ns")}, timestamptz 'epoch')
    FROM stage_windows w JOIN new USING (tenant, device_id, seq)
    WHERE w.features IS NOT NULL
)"""

_SUMMARY_COLS, _SUMMARY_EXPRS = insert_select(
    SummaryRow,
    "s",
    {"t0_ns": ("t0", _TS.format("s.t0_ns")), "t1_ns": ("t1", _TS.format("s.t1_ns"))},
)
_SUMMARIES = f"""summ AS (
    INSERT INTO summaries ({_SUMMARY_COLS})
    SELECT {_SUMMARY_EXPRS}
    FROM stage_summaries s JOIN new USING (tenant, device_id, seq)
), summ_dirty AS (
    INSERT INTO rollup_dirty (tenant, device_id, sensor, bucket)
    SELECT DISTINCT s.tenant, s.device_id, s.sensor,
           date_bin(interval '1 minute', {_TS.format("s.t0_ns")}, timestamptz 'epoch')
    FROM stage_summaries s JOIN new USING (tenant, device_id, seq)
)"""

_HEALTH = """health AS (
    INSERT INTO device_health (tenant, device_id, seq, sent_at, battery, outbox_depth,
        outbox_bytes, evicted_batches, cpu_us_per_window, clock_offset_ns, firmware,
        algo_version, samples_dropped, commands_nacked, clock_synced, raw_cache_bytes,
        commands_ok, policy_version, uplink)
    SELECT h.tenant, h.device_id, h.seq, {sent}, h.battery, h.outbox_depth, h.outbox_bytes,
        h.evicted_batches, h.cpu_us_per_window, h.clock_offset_ns, h.firmware, h.algo_version,
        h.samples_dropped, h.commands_nacked, h.clock_synced, h.raw_cache_bytes, h.commands_ok,
        h.policy_version, nullif(h.uplink, '')
    FROM stage_health h JOIN new USING (tenant, device_id, seq)
)""".format(sent=_TS.format("h.sent_ns"))

_ACKS = """acks AS (
    INSERT INTO command_acks (tenant, device_id, command_id, seq, ok, reason, device_time)
    SELECT a.tenant, a.device_id, a.command_id, a.seq, a.ok, a.reason, {at}
    FROM stage_acks a JOIN new USING (tenant, device_id, seq)
    ORDER BY 1, 2, 3
    ON CONFLICT DO NOTHING
    RETURNING tenant, device_id, command_id, ok, reason
), cmd AS (
    UPDATE commands c SET acked_at = now(), ok = a.ok, reason = a.reason
    FROM acks a
    WHERE c.id = a.command_id AND c.tenant = a.tenant AND c.device_id = a.device_id
)""".format(at=_TS.format("nullif(a.device_time_ns, 0)"))

_CONFORMANCE = """conf AS (
    INSERT INTO conformance AS k (tenant, device_id, algo_version, checked, mismatches,
                                  skipped, last_mismatch_at, last_mismatch)
    SELECT c.tenant, c.device_id, c.algo_version, sum(c.checked), sum(c.mismatches),
           sum(c.skipped), CASE WHEN sum(c.mismatches) > 0 THEN now() END,
           (array_agg(c.last_mismatch ORDER BY c.seq DESC)
                FILTER (WHERE c.last_mismatch <> ''))[1]
    FROM stage_conformance c JOIN new USING (tenant, device_id, seq)
    GROUP BY c.tenant, c.device_id, c.algo_version
    ORDER BY 1, 2, 3
    ON CONFLICT (tenant, device_id, algo_version) DO UPDATE
    SET checked = k.checked + excluded.checked,
        mismatches = k.mismatches + excluded.mismatches,
        skipped = k.skipped + excluded.skipped,
        last_mismatch_at = coalesce(excluded.last_mismatch_at, k.last_mismatch_at),
        last_mismatch = coalesce(excluded.last_mismatch, k.last_mismatch)
)"""


def insert_statement(staged: Staged) -> str:
    """The flush's one INSERT statement, with only the parts ``staged`` needs."""
    parts = [_NEW]
    if staged.windows:
        parts.append(_WINDOWS)
    if staged.summaries:
        parts.append(_SUMMARIES)
    if staged.health:
        parts.append(_HEALTH)
    if staged.acks:
        parts.append(_ACKS)
    if staged.conformance:
        parts.append(_CONFORMANCE)
    return "WITH " + ",\n".join(parts) + "\nSELECT tenant, device_id, seq FROM new"


_INSERT_EVICTIONS = """
INSERT INTO evictions (tenant, device_id, first_seq, last_seq, reason)
VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING
"""
_INSERT_DEAD = f"""
INSERT INTO dead_letters (topic, tenant, device_id, reason, payload, payload_size, received_at)
VALUES (%s, %s, %s, %s, %s, %s, coalesce({_TS.format("nullif(%s::bigint, 0)")}, now()))
"""
_UPSERT_PRESENCE = f"""
INSERT INTO devices AS d (tenant, device_id, online, presence_at)
VALUES (%s, %s, %s, {_TS.format("%s::bigint")})
ON CONFLICT (tenant, device_id) DO UPDATE
SET online = excluded.online, presence_at = excluded.presence_at
WHERE d.presence_at IS NULL OR d.presence_at <= excluded.presence_at
"""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one ingest request."""

    status: int
    duplicate: bool = False
    reason: str = ""

    @property
    def stored(self) -> bool:
        return self.status == _STATUS_STORED


# A plain int: attribute access on the protobuf enum wrapper costs about a microsecond.
_STATUS_STORED = int(protos.IngestAck.Status.STATUS_STORED)
STORED = Outcome(protos.IngestAck.Status.STATUS_STORED)
DUPLICATE = Outcome(protos.IngestAck.Status.STATUS_STORED, duplicate=True)

# Errors after which the same transaction may succeed when simply tried again.
RETRYABLE = (
    psycopg.OperationalError,
    psycopg.errors.SerializationFailure,
    psycopg.errors.DeadlockDetected,
    psycopg.errors.AdminShutdown,
)


def dead_letter_for(req: protos.IngestRequest, reason: str) -> protos.DeadLetter:
    """A dead letter keeping ``req`` (its batch, when it is one) under its device's up topic."""
    if req.WhichOneof("item") != "batch":
        return protos.DeadLetter(
            topic=f"{protos.PREFIX}/?/?/up", reason=reason[:500], payload=req.SerializeToString()
        )
    b = req.batch
    topic = f"{protos.PREFIX}/{b.tenant or '?'}/{b.device_id or '?'}/up"
    return protos.DeadLetter(topic=topic, reason=reason[:500], payload=b.SerializeToString())


def stage(
    requests: Sequence[protos.IngestRequest],
    limits: IngestLimits = IngestLimits(),
    now_ns: int | None = None,
) -> tuple[Staged, list[Outcome | None]]:
    """Stage ``requests``; outcomes known before commit are filled, batches left ``None``.

    A request that cannot be staged — refused for its data, or failing in any other way
    (a kernel error, ``MemoryError``) — is answered REJECTED and kept as a dead letter with the
    reason; the others of the flush go on.
    """
    staged = Staged()
    outcomes: list[Outcome | None] = [None] * len(requests)
    seen: set[tuple[str, str, int]] = set()
    now = time.time_ns() if now_ns is None else now_ns
    for i, req in enumerate(requests):
        kind = req.WhichOneof("item")
        try:
            if kind == "batch":
                b = req.batch
                check_batch(b, limits)
                key = (b.tenant, b.device_id, b.seq)
                if key in seen:
                    outcomes[i] = DUPLICATE
                    continue
                stage_batch(staged, b, b.ByteSize(), limits, now)
                seen.add(key)
            elif kind == "dead_letter":
                stage_dead_letter(staged, req.dead_letter)
                outcomes[i] = STORED
            elif kind == "presence":
                stage_presence(staged, req.presence)
                outcomes[i] = STORED
            else:
                raise RejectedItem("empty ingest request")
        except Exception as exc:
            reason = _reason(exc)
            if kind == "batch":
                stage_dead_letter(staged, dead_letter_for(req, reason))
            outcomes[i] = Outcome(protos.IngestAck.Status.STATUS_REJECTED, reason=reason)
    finish_cloud(staged)
    return staged, outcomes


def _reason(exc: Exception) -> str:
    """The dead-letter reason for an item that could not be staged."""
    if isinstance(exc, (RejectedItem, protos.TopicError)):
        return exc.reason if isinstance(exc, RejectedItem) else str(exc)
    log.error("staging an ingest item failed; it is dead-lettered", exc_info=exc)
    return f"internal error: {type(exc).__name__}: {exc}"[:500]


def prepare(
    requests: Sequence[protos.IngestRequest], limits: IngestLimits = IngestLimits()
) -> tuple[Staged, list[Outcome | None], Copies]:
    """:func:`stage` ``requests`` and encode the staging tables' COPY payloads (CPU only)."""
    staged, outcomes = stage(requests, limits)
    copies: Copies = []
    if staged.batches:
        rows_of: dict[str, Sequence[tuple[Any, ...]]] = {
            "stage_batches": staged.batches,
            "stage_windows": staged.windows,
            "stage_summaries": staged.summaries,
            "stage_health": staged.health,
            "stage_acks": staged.acks,
            "stage_conformance": staged.conformance,
        }
        for table, _ in _STAGING:
            if rows := rows_of[table]:
                copies.append((table, encode_copy(_STAGING_TYPES[table], rows)))
    return staged, outcomes, copies


class Store:
    """A connection pool and the write/read statements of the core."""

    def __init__(
        self,
        dsn: str,
        *,
        min_size: int = 1,
        max_size: int = 4,
        limits: IngestLimits = IngestLimits(),
        judge: JudgeConfig | None = None,
    ) -> None:
        self.dsn = dsn
        self.limits = limits
        self.capabilities: Capabilities | None = None
        #: Judges every window of the new batches of a flush; episodes go to ``alerts``.
        self.alerter = Alerter(judge)
        #: BOTH windows compared with cloud features / found mismatching, in committed new
        #: batches since this store was created (for metrics).
        self.conformance_checked = 0
        self.conformance_mismatches = 0
        #: Windows of committed new batches judged anomalous, and alerts opened per kind.
        self.windows_anomalous = 0
        self.alerts_opened: Counter[str] = Counter()
        #: Samples (windows' and summaries') of committed new batches, as staging counted them.
        self.samples_stored = 0
        self.pool = AsyncConnectionPool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            # A write waits this long for a connection before it counts as a storage failure
            # (retried; the core reports NOT_SERVING meanwhile).
            timeout=5.0,
            open=False,
            configure=self._configure,
            check=AsyncConnectionPool.check_connection,
            name="binhai-core",
        )

    @staticmethod
    async def _configure(conn: psycopg.AsyncConnection) -> None:
        await conn.execute(_STAGING_DDL)
        await conn.commit()

    async def open(self, *, timeout: float = 30.0) -> None:
        try:
            await self.pool.open(wait=True, timeout=timeout)
        except Exception as exc:  # psycopg_pool raises PoolTimeout with the cause logged
            raise StorageError(f"cannot connect to the database: {exc}") from exc
        await asyncio.to_thread(warm_up)
        async with self.pool.connection() as conn:
            self.capabilities = await detect(conn)
            have = await current_version(conn)
            if have < MIGRATIONS[-1].version:
                raise StorageError(
                    f"database schema is at version {have}, this core needs"
                    f" {MIGRATIONS[-1].version}; run `binhai db migrate`"
                )

    async def close(self) -> None:
        await self.pool.close()

    async def write(self, requests: Sequence[protos.IngestRequest]) -> list[Outcome]:
        """Store ``requests`` in one transaction; return one outcome each, after commit."""
        try:
            # Off the event loop: staging is most of a flush's CPU (the kernels release the GIL).
            staged, outcomes, copies = await asyncio.to_thread(prepare, requests, self.limits)
        except EncodeError as exc:
            raise StorageError(f"write failed: {exc}", sqlstate="22003") from exc
        try:
            async with self.pool.connection() as conn, conn.transaction():
                new_keys, anomalous, opened = await self._write_staged(conn, staged, copies)
        except RETRYABLE:
            raise
        except psycopg.Error as exc:
            raise StorageError(f"write failed: {exc}", sqlstate=exc.sqlstate) from exc
        for c in staged.conformance:
            if (c.tenant, c.device_id, c.seq) in new_keys:
                self.conformance_checked += c.checked
                self.conformance_mismatches += c.mismatches
        self.windows_anomalous += anomalous
        self.alerts_opened.update(opened)
        if new_keys:
            self.samples_stored += sum(
                b.n_samples for b in staged.batches if (b.tenant, b.device_id, b.seq) in new_keys
            )
        for i, req in enumerate(requests):
            if outcomes[i] is None:
                b = req.batch
                outcomes[i] = STORED if (b.tenant, b.device_id, b.seq) in new_keys else DUPLICATE
        return [o for o in outcomes if o is not None]

    async def _write_staged(
        self, conn: psycopg.AsyncConnection, staged: Staged, copies: Copies
    ) -> tuple[set[tuple[str, str, int]], int, list[str]]:
        """The flush's statements; returns the new batches' keys, the windows judged anomalous
        and the kinds of the alerts opened."""
        async with conn.cursor() as cur:
            new_keys: set[tuple[str, str, int]] = set()
            anomalous: list[Judged] = []
            opened: list[str] = []
            if staged.batches:
                for table, payload in copies:
                    async with cur.copy(f"COPY {table} FROM STDIN (FORMAT BINARY)") as copy:
                        await copy.write(payload)
                await cur.execute(insert_statement(staged))
                new_keys = {(r[0], r[1], r[2]) for r in await cur.fetchall()}
                # only new batches are judged: a redelivery changes no episode
                items = [item for item in staged.judge if item.batch in new_keys]
                if items:
                    anomalous = await asyncio.to_thread(self.alerter, items)
                    opened = await record_alerts(
                        cur, anomalous, gap_windows=self.alerter.gap_windows
                    )
            if staged.evictions:
                await cur.executemany(_INSERT_EVICTIONS, staged.evictions)
            if staged.dead_letters:
                await cur.executemany(_INSERT_DEAD, staged.dead_letters)
            if staged.presence:
                await cur.executemany(_UPSERT_PRESENCE, staged.presence)
            return new_keys, len(anomalous), opened
