"""PostgreSQL storage: binary COPY into staging, deduplicating insert, one transaction per flush.

The only module of the write path that talks to psycopg. ``Store.write`` takes a list of ingest
requests and returns one :class:`Outcome` each, after the transaction has committed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from psycopg_pool import AsyncConnectionPool

import protos
from cloud_core._capabilities import Capabilities, detect
from cloud_core._copy import EncodeError, encode_copy
from cloud_core._errors import RejectedItem, StorageError
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

_STAGING_DDL = """
CREATE TEMP TABLE IF NOT EXISTS stage_batches (
    tenant text, device_id text, seq bigint, sent_ns bigint,
    n_windows integer, n_samples bigint, payload_bytes integer
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_windows (
    tenant text, device_id text, seq bigint, idx integer, sensor text, t0_ns bigint,
    rate_hz double precision, channels integer, n_samples integer, offload smallint,
    novelty real, algo_version integer, features real[], raw_codec smallint, raw bytea,
    source smallint
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_health (
    tenant text, device_id text, seq bigint, sent_ns bigint, battery real,
    outbox_depth bigint, outbox_bytes bigint, evicted_batches bigint, cpu_us_per_window real,
    clock_offset_ns bigint, firmware text, algo_version bigint, samples_dropped bigint,
    commands_nacked bigint, clock_synced boolean, raw_cache_bytes bigint, commands_ok bigint
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_acks (
    tenant text, device_id text, seq bigint, command_id text, ok boolean, reason text,
    device_time_ns bigint
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_conformance (
    tenant text, device_id text, seq bigint, algo_version integer, checked bigint,
    mismatches bigint, skipped bigint, last_mismatch text
) ON COMMIT DELETE ROWS;
"""

_BATCH_TYPES = ["text", "text", "int8", "int8", "int4", "int8", "int4"]
_WINDOW_TYPES = [
    "text",
    "text",
    "int8",
    "int4",
    "text",
    "int8",
    "float8",
    "int4",
    "int4",
    "int2",
    "float4",
    "int4",
    "float4[]",
    "int2",
    "bytea",
    "int2",
]
_HEALTH_TYPES = ["text", "text", "int8", "int8", "float4", "int8", "int8", "int8", "float4"]
_HEALTH_TYPES += ["int8", "text", "int8", "int8", "int8", "bool", "int8", "int8"]
_ACK_TYPES = ["text", "text", "int8", "text", "bool", "text", "int8"]
_CONFORMANCE_TYPES = ["text", "text", "int8", "int4", "int8", "int8", "int8", "text"]

# One statement per flush: the parts for staged kinds that are empty are left out.
_NEW = """new AS (
    INSERT INTO batches (tenant, device_id, seq, sent_at, n_windows, n_samples, payload_bytes)
    SELECT tenant, device_id, seq, {sent}, n_windows, n_samples, payload_bytes
    FROM stage_batches
    ON CONFLICT DO NOTHING
    RETURNING tenant, device_id, seq
), dev AS (
    INSERT INTO devices AS d (tenant, device_id, last_seq)
    SELECT tenant, device_id, max(seq) FROM new GROUP BY tenant, device_id
    ORDER BY tenant, device_id
    ON CONFLICT (tenant, device_id) DO UPDATE
    SET last_seen = now(), last_seq = greatest(d.last_seq, excluded.last_seq)
)""".format(sent=_TS.format("sent_ns"))

_WINDOWS = """win AS (
    INSERT INTO windows (tenant, device_id, seq, idx, sensor, t0, rate_hz, channels, n_samples,
                         offload, novelty, algo_version, features, raw_codec, raw, source)
    SELECT w.tenant, w.device_id, w.seq, w.idx, w.sensor, {t0}, w.rate_hz,
           w.channels, w.n_samples, w.offload, w.novelty, w.algo_version, w.features,
           w.raw_codec, w.raw, w.source
    FROM stage_windows w JOIN new USING (tenant, device_id, seq)
), dirty AS (
    INSERT INTO rollup_dirty (tenant, device_id, sensor, bucket)
    SELECT DISTINCT w.tenant, w.device_id, w.sensor,
           date_bin(interval '1 minute', {t0}, timestamptz 'epoch')
    FROM stage_windows w JOIN new USING (tenant, device_id, seq)
    WHERE w.features IS NOT NULL
)""".format(t0=_TS.format("w.t0_ns"))

_HEALTH = """health AS (
    INSERT INTO device_health (tenant, device_id, seq, sent_at, battery, outbox_depth,
        outbox_bytes, evicted_batches, cpu_us_per_window, clock_offset_ns, firmware,
        algo_version, samples_dropped, commands_nacked, clock_synced, raw_cache_bytes,
        commands_ok)
    SELECT h.tenant, h.device_id, h.seq, {sent}, h.battery, h.outbox_depth, h.outbox_bytes,
        h.evicted_batches, h.cpu_us_per_window, h.clock_offset_ns, h.firmware, h.algo_version,
        h.samples_dropped, h.commands_nacked, h.clock_synced, h.raw_cache_bytes, h.commands_ok
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
        return self.status == protos.IngestAck.Status.STATUS_STORED


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
        for table, types, rows in (
            ("stage_batches", _BATCH_TYPES, staged.batches),
            ("stage_windows", _WINDOW_TYPES, staged.windows),
            ("stage_health", _HEALTH_TYPES, staged.health),
            ("stage_acks", _ACK_TYPES, staged.acks),
            ("stage_conformance", _CONFORMANCE_TYPES, staged.conformance),
        ):
            if rows:
                copies.append((table, encode_copy(types, rows)))
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
    ) -> None:
        self.dsn = dsn
        self.limits = limits
        self.capabilities: Capabilities | None = None
        #: BOTH windows compared with cloud features / found mismatching, in committed new
        #: batches since this store was created (for metrics).
        self.conformance_checked = 0
        self.conformance_mismatches = 0
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
                new_keys = await self._write_staged(conn, staged, copies)
        except RETRYABLE:
            raise
        except psycopg.Error as exc:
            raise StorageError(f"write failed: {exc}", sqlstate=exc.sqlstate) from exc
        for c in staged.conformance:
            if (c[0], c[1], c[2]) in new_keys:
                self.conformance_checked += c[4]
                self.conformance_mismatches += c[5]
        for i, req in enumerate(requests):
            if outcomes[i] is None:
                b = req.batch
                outcomes[i] = STORED if (b.tenant, b.device_id, b.seq) in new_keys else DUPLICATE
        return [o for o in outcomes if o is not None]

    @staticmethod
    async def _write_staged(
        conn: psycopg.AsyncConnection, staged: Staged, copies: Copies
    ) -> set[tuple[str, str, int]]:
        async with conn.cursor() as cur:
            new_keys: set[tuple[str, str, int]] = set()
            if staged.batches:
                for table, payload in copies:
                    async with cur.copy(f"COPY {table} FROM STDIN (FORMAT BINARY)") as copy:
                        await copy.write(payload)
                await cur.execute(insert_statement(staged))
                new_keys = {(r[0], r[1], r[2]) for r in await cur.fetchall()}
            if staged.evictions:
                await cur.executemany(_INSERT_EVICTIONS, staged.evictions)
            if staged.dead_letters:
                await cur.executemany(_INSERT_DEAD, staged.dead_letters)
            if staged.presence:
                await cur.executemany(_UPSERT_PRESENCE, staged.presence)
            return new_keys
