"""Migration 2: time partitioning, rollups, health, commands, conformance.

With TimescaleDB hypertables, ``windows`` (already a hypertable since v1) gains its new column
and ``device_health`` becomes a hypertable. Without them, ``windows`` is rebuilt as a table
partitioned by day on ``t0``: the v1 table is renamed, the partitioned one created with a default
partition and day partitions for every day that holds data (within :data:`BACKFILL_DAYS`) and for
the days around today, the rows moved, the v1 table dropped, all in the migration's transaction.
Compression and retention policies are added only where the license allows them.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import psycopg

from cloud_core._capabilities import Capabilities
from cloud_core._partitions import create_default, ensure_days
from cloud_core._rollups import create_rollups

__all__ = ["BACKFILL_DAYS", "DAYS_AHEAD", "RETENTION_DEFAULTS", "v2_storage"]

#: Existing data older than this many days keeps to the default partition.
BACKFILL_DAYS = 400
#: Day partitions created ahead of today (by the migration and by maintenance).
DAYS_AHEAD = 7
#: Retention policies installed where TimescaleDB allows them: relation -> keep for.
RETENTION_DEFAULTS: dict[str, str] = {
    "windows": "30 days",
    "device_health": "30 days",
    "rollup_1m": "90 days",
}

_WINDOW_COLUMNS = """
    tenant       text NOT NULL,
    device_id    text NOT NULL,
    seq          bigint NOT NULL,
    idx          integer NOT NULL,
    sensor       text NOT NULL,
    t0           timestamptz NOT NULL,
    rate_hz      double precision NOT NULL,
    channels     integer NOT NULL,
    n_samples    integer NOT NULL,
    offload      smallint NOT NULL,
    novelty      real NOT NULL,
    algo_version integer,
    features     real[],
    raw_codec    smallint,
    raw          bytea,
    source       smallint
"""
_V1_COLUMNS = (
    "tenant, device_id, seq, idx, sensor, t0, rate_hz, channels, n_samples, offload, novelty,"
    " algo_version, features, raw_codec, raw"
)

_HEALTH_COLUMNS = """
    tenant            text NOT NULL,
    device_id         text NOT NULL,
    seq               bigint NOT NULL,
    sent_at           timestamptz NOT NULL,
    received_at       timestamptz NOT NULL DEFAULT now(),
    battery           real,
    outbox_depth      bigint,
    outbox_bytes      bigint,
    evicted_batches   bigint,
    cpu_us_per_window real,
    clock_offset_ns   bigint,
    firmware          text,
    algo_version      bigint,
    samples_dropped   bigint,
    commands_nacked   bigint,
    clock_synced      boolean,
    raw_cache_bytes   bigint,
    commands_ok       bigint
"""

_OTHER_TABLES = """
CREATE INDEX device_health_device_seq ON device_health (tenant, device_id, seq DESC);
CREATE INDEX batches_received ON batches (received_at);
CREATE TABLE commands (
    id          text PRIMARY KEY,
    tenant      text NOT NULL,
    device_id   text NOT NULL,
    body        bytea NOT NULL,
    kind        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz,
    acked_at    timestamptz,
    ok          boolean,
    reason      text
);
CREATE INDEX commands_device ON commands (tenant, device_id, created_at DESC);
CREATE TABLE command_acks (
    tenant      text NOT NULL,
    device_id   text NOT NULL,
    command_id  text NOT NULL,
    seq         bigint NOT NULL,
    ok          boolean NOT NULL,
    reason      text NOT NULL,
    device_time timestamptz,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, device_id, command_id)
);
CREATE TABLE conformance (
    tenant           text NOT NULL,
    device_id        text NOT NULL,
    algo_version     integer NOT NULL,
    checked          bigint NOT NULL DEFAULT 0,
    mismatches       bigint NOT NULL DEFAULT 0,
    skipped          bigint NOT NULL DEFAULT 0,
    first_seen       timestamptz NOT NULL DEFAULT now(),
    last_mismatch_at timestamptz,
    last_mismatch    text,
    PRIMARY KEY (tenant, device_id, algo_version)
);
"""


def _today() -> date:
    return datetime.now(timezone.utc).date()


def _around_today() -> list[date]:
    today = _today()
    return [today + timedelta(days=d) for d in range(-1, DAYS_AHEAD + 1)]


async def _partition_windows(conn: psycopg.AsyncConnection) -> None:
    await conn.execute(
        "ALTER TABLE windows RENAME TO windows_v1;"
        " ALTER INDEX windows_device_time RENAME TO windows_v1_device_time;"
        " ALTER INDEX windows_batch RENAME TO windows_v1_batch;"
        f" CREATE TABLE windows ({_WINDOW_COLUMNS}) PARTITION BY RANGE (t0)"
    )
    await create_default(conn, "windows")
    cur = await conn.execute(
        "SELECT DISTINCT (t0 AT TIME ZONE 'UTC')::date FROM windows_v1"
        " WHERE t0 >= now() - make_interval(days => %s)"
        "   AND t0 < now() + make_interval(days => %s)",
        (BACKFILL_DAYS, DAYS_AHEAD + 1),
    )
    days = [r[0] for r in await cur.fetchall()]
    await ensure_days(conn, "windows", days + _around_today())
    await conn.execute(
        f"INSERT INTO windows ({_V1_COLUMNS}, source)"
        f" SELECT {_V1_COLUMNS}, CASE WHEN features IS NOT NULL THEN 1 END FROM windows_v1;"
        " DROP TABLE windows_v1;"
        " CREATE INDEX windows_device_time ON windows (tenant, device_id, sensor, t0 DESC);"
        " CREATE INDEX windows_batch ON windows (tenant, device_id, seq);"
        " CREATE INDEX windows_t0_brin ON windows USING brin (t0)"
    )


async def _timescale_policies(conn: psycopg.AsyncConnection, caps: Capabilities) -> None:
    if caps.compression:
        await conn.execute(
            "ALTER TABLE windows SET (timescaledb.compress,"
            " timescaledb.compress_segmentby = 'tenant, device_id, sensor',"
            " timescaledb.compress_orderby = 't0 DESC, seq, idx');"
            " ALTER TABLE device_health SET (timescaledb.compress,"
            " timescaledb.compress_segmentby = 'tenant, device_id',"
            " timescaledb.compress_orderby = 'received_at DESC, seq');"
            " SELECT add_compression_policy('windows', interval '7 days');"
            " SELECT add_compression_policy('device_health', interval '7 days')"
        )
    if caps.retention_policies:
        for rel, keep in RETENTION_DEFAULTS.items():
            if rel.startswith("rollup_") and not caps.continuous_aggregates:
                continue
            await conn.execute("SELECT add_retention_policy(%s, %s::interval)", (rel, keep))


async def v2_storage(conn: psycopg.AsyncConnection, caps: Capabilities) -> None:
    """Apply migration 2 on ``conn`` (inside the migration's transaction)."""
    if caps.hypertables:
        await conn.execute(
            "ALTER TABLE windows ADD COLUMN source smallint;"
            " UPDATE windows SET source = 1 WHERE features IS NOT NULL"
        )
        await conn.execute(f"CREATE TABLE device_health ({_HEALTH_COLUMNS})")
        await conn.execute(
            "SELECT create_hypertable('device_health', 'received_at',"
            " chunk_time_interval => interval '1 day')"
        )
    else:
        await _partition_windows(conn)
        await conn.execute(
            f"CREATE TABLE device_health ({_HEALTH_COLUMNS}) PARTITION BY RANGE (received_at)"
        )
        await create_default(conn, "device_health")
        await ensure_days(conn, "device_health", _around_today())
    await conn.execute(_OTHER_TABLES)
    await create_rollups(conn, caps)
    await _timescale_policies(conn, caps)
