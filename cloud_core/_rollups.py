"""Feature rollups at 1 minute and 1 hour: one layout, two ways to maintain it.

Shape
-----
Window features are stored as one ``real[]`` per window (channel-major, ``FEATURE_NAMES`` per
channel). Continuous aggregates cannot unnest arrays, and a narrow ``feature_values`` table would
multiply ingest writes by channels x features (93 rows per 3-axis window), so the rollups keep
*per-feature columns for a fixed set of rollup features*: for each channel ``c`` below
:data:`ROLLUP_CHANNELS` and each feature ``f`` in :data:`ROLLUP_FEATURES`, the columns
``{f}_{c}_sum`` (float8), ``{f}_{c}_lo`` and ``{f}_{c}_hi`` (real), plus ``n_{c}``, the windows
whose channel ``c`` was finite. Rows are keyed by (tenant, device_id, sensor, source,
algo_version, bucket). Sums (not means) make the hourly level an exact roll-up of the minute
level and let a query re-bucket to any multiple of the rollup width. Other features and channels
are answered from the windows directly, with the same definition (mean of the per-window values).

Maintenance
-----------
With continuous aggregates (TimescaleDB, community license) ``rollup_1m`` is a continuous
aggregate over ``windows`` and ``rollup_1h`` one over ``rollup_1m`` (hierarchical, TimescaleDB
>= 2.9; older versions aggregate ``windows`` again), both real-time. Otherwise they are tables the
core refreshes. Either way every ingest transaction appends the (device, sensor, minute) buckets
it touched to ``rollup_dirty``, and :func:`refresh` consumes that log: the plain path recomputes
exactly those buckets, the TimescaleDB path refreshes the continuous aggregates over their time
range. A batch arriving hours late therefore lands in the rollups of its own time range.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg
from psycopg import sql

import kernels
from cloud_core._capabilities import Capabilities

log = logging.getLogger(__name__)

__all__ = [
    "ROLLUP_CHANNELS",
    "ROLLUP_FEATURES",
    "RefreshResult",
    "create_rollups",
    "hierarchical",
    "refresh",
    "rollup_columns",
    "window_aggregates",
]

#: Features kept in the rollups (a fixed set; other features are aggregated from windows).
ROLLUP_FEATURES: tuple[str, ...] = (
    "mean",
    "std",
    "min",
    "max",
    "rms",
    "ptp",
    "dominant_freq",
    "spectral_centroid",
)
#: Channels kept in the rollups (0 .. ROLLUP_CHANNELS - 1).
ROLLUP_CHANNELS = 3

_KEY = "tenant, device_id, sensor, source, algo_version"
_LOCK_KEY = 0x62686E72_6F6C6C  # "bhnr" "oll": one refresher at a time across cores
_EPOCH = "timestamptz 'epoch'"


def rollup_columns() -> list[tuple[str, str]]:
    """(name, SQL type) of every aggregate column of a rollup, in table order."""
    cols = [("windows", "bigint"), ("novelty_max", "real")]
    for c in range(ROLLUP_CHANNELS):
        cols.append((f"n_{c}", "bigint"))
        for f in ROLLUP_FEATURES:
            cols += [(f"{f}_{c}_sum", "float8"), (f"{f}_{c}_lo", "real"), (f"{f}_{c}_hi", "real")]
    return cols


def _index(feature: str, channel: int) -> int:
    return channel * len(kernels.FEATURE_NAMES) + kernels.FEATURE_NAMES.index(feature) + 1


def finite_filter(channel: int) -> str:
    """SQL condition: the window's ``channel`` exists and is finite (its mean is not NaN)."""
    return f"features[{_index('mean', channel)}] <> 'NaN'::real"


def window_aggregates() -> str:
    """Aggregate select list over ``windows`` rows, in :func:`rollup_columns` order."""
    parts = ["count(*) AS windows", "max(novelty) AS novelty_max"]
    for c in range(ROLLUP_CHANNELS):
        ok = finite_filter(c)
        parts.append(f"count(*) FILTER (WHERE {ok}) AS n_{c}")
        for f in ROLLUP_FEATURES:
            v = f"features[{_index(f, c)}]"
            parts += [
                f"sum({v}::float8) FILTER (WHERE {ok}) AS {f}_{c}_sum",
                f"min({v}) FILTER (WHERE {ok}) AS {f}_{c}_lo",
                f"max({v}) FILTER (WHERE {ok}) AS {f}_{c}_hi",
            ]
    return ",\n    ".join(parts)


def rollup_aggregates() -> str:
    """Aggregate select list that rolls rollup rows up into coarser buckets."""
    parts = []
    for name, _ in rollup_columns():
        if name.endswith("_lo"):
            fn = "min"
        elif name.endswith("_hi") or name == "novelty_max":
            fn = "max"
        else:
            fn = "sum"
        parts.append(f"{fn}({name}) AS {name}")
    return ",\n    ".join(parts)


def hierarchical(caps: Capabilities) -> bool:
    """Whether continuous aggregates may be built on continuous aggregates (>= 2.9)."""
    if caps.timescaledb is None:
        return False
    major, minor = (int(x) for x in caps.timescaledb.split(".")[:2])
    return (major, minor) >= (2, 9)


def _table_ddl(name: str) -> str:
    cols = ",\n    ".join(f"{n} {t}" for n, t in rollup_columns())
    return f"""
    CREATE TABLE {name} (
        tenant text NOT NULL, device_id text NOT NULL, sensor text NOT NULL,
        source smallint NOT NULL, algo_version integer NOT NULL, bucket timestamptz NOT NULL,
        {cols},
        PRIMARY KEY (tenant, device_id, sensor, bucket, source, algo_version)
    )"""


async def create_rollups(conn: psycopg.AsyncConnection, caps: Capabilities) -> None:
    """Create ``rollup_dirty``, ``rollup_1m`` and ``rollup_1h`` (DDL; used by a migration)."""
    await conn.execute(
        "CREATE TABLE rollup_dirty ("
        " tenant text NOT NULL, device_id text NOT NULL, sensor text NOT NULL,"
        " bucket timestamptz NOT NULL)"
    )
    if not caps.continuous_aggregates:
        await conn.execute(_table_ddl("rollup_1m"))
        await conn.execute(_table_ddl("rollup_1h"))
        return
    await conn.execute(
        f"""
        CREATE MATERIALIZED VIEW rollup_1m
        WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
        SELECT {_KEY}, time_bucket(interval '1 minute', t0) AS bucket,
            {window_aggregates()}
        FROM windows WHERE features IS NOT NULL
        GROUP BY {_KEY}, bucket
        WITH NO DATA
        """
    )
    if hierarchical(caps):
        source, aggs = "rollup_1m", rollup_aggregates()
        bucket = "time_bucket(interval '1 hour', bucket)"
        where = ""
    else:
        source, aggs = "windows", window_aggregates()
        bucket, where = "time_bucket(interval '1 hour', t0)", "WHERE features IS NOT NULL"
    await conn.execute(
        f"""
        CREATE MATERIALIZED VIEW rollup_1h
        WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
        SELECT {_KEY}, {bucket} AS bucket,
            {aggs}
        FROM {source} {where}
        GROUP BY {_KEY}, {bucket}
        WITH NO DATA
        """
    )
    # Late data: the policies refresh every invalidated range up to 30 days back (only the
    # invalidated buckets are recomputed, so a long start offset costs little).
    for view, every in (("rollup_1m", "1 minute"), ("rollup_1h", "10 minutes")):
        await conn.execute(
            "SELECT add_continuous_aggregate_policy(%s, start_offset => interval '30 days',"
            f" end_offset => NULL, schedule_interval => interval '{every}')",
            (view,),
        )


@dataclass(frozen=True, slots=True)
class RefreshResult:
    """What one :func:`refresh` did: dirty buckets consumed, rollup rows written."""

    dirty_buckets: int = 0
    minute_rows: int = 0
    hour_rows: int = 0


_UPSERT_SET = ", ".join(f"{n} = excluded.{n}" for n, _ in rollup_columns())

_REFRESH_1M = f"""
WITH d AS (
    DELETE FROM rollup_dirty RETURNING tenant, device_id, sensor, bucket
), k AS (
    SELECT DISTINCT tenant, device_id, sensor, bucket FROM d
), agg AS (
    SELECT w.tenant, w.device_id, w.sensor, w.source, w.algo_version, k.bucket,
        {window_aggregates()}
    FROM k JOIN windows w
      ON w.tenant = k.tenant AND w.device_id = k.device_id AND w.sensor = k.sensor
     AND w.t0 >= k.bucket AND w.t0 < k.bucket + interval '1 minute'
    WHERE w.features IS NOT NULL AND w.algo_version IS NOT NULL
    GROUP BY w.tenant, w.device_id, w.sensor, w.source, w.algo_version, k.bucket
), up AS (
    INSERT INTO rollup_1m AS r SELECT * FROM agg
    ORDER BY tenant, device_id, sensor, bucket, source, algo_version
    ON CONFLICT (tenant, device_id, sensor, bucket, source, algo_version)
    DO UPDATE SET {_UPSERT_SET}
    RETURNING 1
)
SELECT k.tenant, k.device_id, k.sensor, date_bin(interval '1 hour', k.bucket, {_EPOCH}),
       (SELECT count(*) FROM k), (SELECT count(*) FROM up)
FROM k GROUP BY 1, 2, 3, 4
"""

_REFRESH_1H = f"""
WITH h(tenant, device_id, sensor, bucket) AS (
    SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::timestamptz[])
)
INSERT INTO rollup_1h AS r
SELECT m.tenant, m.device_id, m.sensor, m.source, m.algo_version, h.bucket,
    {rollup_aggregates()}
FROM h JOIN rollup_1m m
  ON m.tenant = h.tenant AND m.device_id = h.device_id AND m.sensor = h.sensor
 AND m.bucket >= h.bucket AND m.bucket < h.bucket + interval '1 hour'
GROUP BY m.tenant, m.device_id, m.sensor, m.source, m.algo_version, h.bucket
ORDER BY 1, 2, 3, 6, 4, 5
ON CONFLICT (tenant, device_id, sensor, bucket, source, algo_version)
DO UPDATE SET {_UPSERT_SET}
"""

_TAKE_RANGE = """
WITH d AS (DELETE FROM rollup_dirty RETURNING bucket)
SELECT count(*), min(bucket), max(bucket) FROM d
"""


async def refresh(conn: psycopg.AsyncConnection, caps: Capabilities) -> RefreshResult:
    """Bring the rollups up to date with every window committed so far.

    ``conn`` must be in autocommit mode (a continuous aggregate refresh cannot run inside a
    transaction). Only one refresher runs at a time across all cores (an advisory lock); a call
    that finds it taken waits for it, then refreshes what is still dirty — so when this returns,
    every window committed before the call is in the rollups.
    """
    if caps.continuous_aggregates:
        return await _refresh_caggs(conn)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        cur = await conn.execute(_REFRESH_1M)
        hours = await cur.fetchall()
        if not hours:
            return RefreshResult()
        cols: list[list[object]] = [[r[i] for r in hours] for i in range(4)]
        cur = await conn.execute(_REFRESH_1H, cols)
        return RefreshResult(int(hours[0][4]), int(hours[0][5]), max(cur.rowcount, 0))


async def _refresh_caggs(conn: psycopg.AsyncConnection) -> RefreshResult:
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        cur = await conn.execute(_TAKE_RANGE)
        taken = await cur.fetchone()
    if not taken or not taken[0]:
        return RefreshResult()
    n, lo, hi = int(taken[0]), taken[1], taken[2]
    # If a refresh below fails, the aggregates' own invalidation log still holds the range and
    # the refresh policies pick it up; the dirty log is only this process's shortcut.
    await conn.execute(
        "CALL refresh_continuous_aggregate('rollup_1m', %s, %s + interval '1 minute')", (lo, hi)
    )
    await conn.execute(
        sql.SQL(
            "CALL refresh_continuous_aggregate('rollup_1h', date_trunc('hour', %s::timestamptz),"
            " date_trunc('hour', %s::timestamptz) + interval '1 hour')"
        ),
        (lo, hi),
    )
    return RefreshResult(dirty_buckets=n)
