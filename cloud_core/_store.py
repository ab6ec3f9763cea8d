"""PostgreSQL storage: binary COPY into staging, deduplicating insert, one transaction per flush.

The only module of the write path that talks to psycopg. ``Store.write`` takes a list of ingest
requests and returns one :class:`Outcome` each, after the transaction has committed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from psycopg_pool import AsyncConnectionPool

import protos
from cloud_core._capabilities import Capabilities, detect
from cloud_core._errors import RejectedItem, StorageError
from cloud_core._rows import Staged, check_batch, stage_batch, stage_dead_letter, stage_presence

log = logging.getLogger(__name__)

_TS = "(timestamptz 'epoch' + ({} / 1000) * interval '1 microsecond')"

_STAGING_DDL = """
CREATE TEMP TABLE IF NOT EXISTS stage_batches (
    tenant text, device_id text, seq bigint, sent_ns bigint,
    n_windows integer, n_samples bigint, payload_bytes integer
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_windows (
    tenant text, device_id text, seq bigint, idx integer, sensor text, t0_ns bigint,
    rate_hz double precision, channels integer, n_samples integer, offload smallint,
    novelty real, algo_version integer, features real[], raw_codec smallint, raw bytea
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
]

_INSERT = f"""
WITH new AS (
    INSERT INTO batches (tenant, device_id, seq, sent_at, n_windows, n_samples, payload_bytes)
    SELECT tenant, device_id, seq, {_TS.format("sent_ns")}, n_windows, n_samples, payload_bytes
    FROM stage_batches
    ON CONFLICT DO NOTHING
    RETURNING tenant, device_id, seq
), win AS (
    INSERT INTO windows (tenant, device_id, seq, idx, sensor, t0, rate_hz, channels, n_samples,
                         offload, novelty, algo_version, features, raw_codec, raw)
    SELECT w.tenant, w.device_id, w.seq, w.idx, w.sensor, {_TS.format("w.t0_ns")}, w.rate_hz,
           w.channels, w.n_samples, w.offload, w.novelty, w.algo_version, w.features,
           w.raw_codec, w.raw
    FROM stage_windows w JOIN new USING (tenant, device_id, seq)
), dev AS (
    INSERT INTO devices AS d (tenant, device_id, last_seq)
    SELECT tenant, device_id, max(seq) FROM new GROUP BY tenant, device_id
    ORDER BY tenant, device_id
    ON CONFLICT (tenant, device_id) DO UPDATE
    SET last_seen = now(), last_seq = greatest(d.last_seq, excluded.last_seq)
)
SELECT tenant, device_id, seq FROM new
"""

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


def _dead_letter_for(req: protos.IngestRequest, exc: RejectedItem) -> protos.DeadLetter:
    b = req.batch
    topic = f"{protos.PREFIX}/{b.tenant or '?'}/{b.device_id or '?'}/up"
    return protos.DeadLetter(topic=topic, reason=exc.reason, payload=b.SerializeToString())


def stage(requests: Sequence[protos.IngestRequest]) -> tuple[Staged, list[Outcome | None]]:
    """Stage ``requests``; outcomes known before commit are filled, batches left ``None``."""
    staged = Staged()
    outcomes: list[Outcome | None] = [None] * len(requests)
    seen: set[tuple[str, str, int]] = set()
    for i, req in enumerate(requests):
        kind = req.WhichOneof("item")
        try:
            if kind == "batch":
                b = req.batch
                check_batch(b)
                key = (b.tenant, b.device_id, b.seq)
                if key in seen:
                    outcomes[i] = DUPLICATE
                    continue
                seen.add(key)
                stage_batch(staged, b, b.ByteSize())
            elif kind == "dead_letter":
                stage_dead_letter(staged, req.dead_letter)
                outcomes[i] = STORED
            elif kind == "presence":
                stage_presence(staged, req.presence)
                outcomes[i] = STORED
            else:
                raise RejectedItem("empty ingest request")
        except (RejectedItem, protos.TopicError) as exc:
            rej = exc if isinstance(exc, RejectedItem) else RejectedItem(str(exc))
            if kind == "batch":
                stage_dead_letter(staged, _dead_letter_for(req, rej))
            outcomes[i] = Outcome(protos.IngestAck.Status.STATUS_REJECTED, reason=rej.reason)
    return staged, outcomes


class Store:
    """A connection pool and the write/read statements of the core."""

    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 4) -> None:
        self.dsn = dsn
        self.capabilities: Capabilities | None = None
        self.pool = AsyncConnectionPool(
            dsn,
            min_size=min_size,
            max_size=max_size,
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
        async with self.pool.connection() as conn:
            self.capabilities = await detect(conn)
            cur = await conn.execute("SELECT to_regclass('batches') IS NOT NULL")
            row = await cur.fetchone()
            if not row or not row[0]:
                raise StorageError("database has no binhai schema; run `binhai db migrate`")

    async def close(self) -> None:
        await self.pool.close()

    async def write(self, requests: Sequence[protos.IngestRequest]) -> list[Outcome]:
        """Store ``requests`` in one transaction; return one outcome each, after commit."""
        staged, outcomes = stage(requests)
        try:
            async with self.pool.connection() as conn, conn.transaction():
                new_keys = await self._write_staged(conn, staged)
        except RETRYABLE:
            raise
        except psycopg.Error as exc:
            raise StorageError(f"write failed: {exc}", sqlstate=exc.sqlstate) from exc
        for i, req in enumerate(requests):
            if outcomes[i] is None:
                b = req.batch
                outcomes[i] = STORED if (b.tenant, b.device_id, b.seq) in new_keys else DUPLICATE
        return [o for o in outcomes if o is not None]

    @staticmethod
    async def _write_staged(
        conn: psycopg.AsyncConnection, staged: Staged
    ) -> set[tuple[str, str, int]]:
        async with conn.cursor() as cur:
            new_keys: set[tuple[str, str, int]] = set()
            if staged.batches:
                async with cur.copy("COPY stage_batches FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(_BATCH_TYPES)
                    for row in staged.batches:
                        await copy.write_row(row)
                if staged.windows:
                    async with cur.copy("COPY stage_windows FROM STDIN (FORMAT BINARY)") as copy:
                        copy.set_types(_WINDOW_TYPES)
                        for wrow in staged.windows:
                            await copy.write_row(wrow)
                await cur.execute(_INSERT)
                new_keys = {(r[0], r[1], r[2]) for r in await cur.fetchall()}
            if staged.evictions:
                await cur.executemany(_INSERT_EVICTIONS, staged.evictions)
            if staged.dead_letters:
                await cur.executemany(_INSERT_DEAD, staged.dead_letters)
            if staged.presence:
                await cur.executemany(_UPSERT_PRESENCE, staged.presence)
            return new_keys
