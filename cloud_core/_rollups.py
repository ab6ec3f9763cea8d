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

Refresh windows are computed in UTC, aligned to the buckets (:func:`cagg_windows`), and bounded
on both sides: never before the retention horizon (:mod:`cloud_core._horizon`: recomputing a
bucket whose raw windows were dropped would wipe its rollup) and never past the current bucket
(a real-time continuous aggregate's watermark must not move into the future, or newer windows
would stop showing until the next refresh). Dirty buckets past the current one stay in the log
for a later refresh; those before the horizon are discarded. The refresh policies are bounded
the same way: ``end_offset`` one bucket, ``start_offset`` :data:`REFRESH_LOOKBACK`, shorter
than any retention of ``windows`` (:func:`set_cagg_policies`). Counts are ``bigint`` on both
paths.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

import kernels
from cloud_core._capabilities import Capabilities
from cloud_core._horizon import ceil_to, floor_to, read_horizon

log = logging.getLogger(__name__)

__all__ = [
    "REFRESH_LOOKBACK",
    "ROLLUP_CHANNELS",
    "ROLLUP_FEATURES",
    "RefreshResult",
    "RefreshWindow",
    "cagg_windows",
    "create_rollups",
    "hierarchical",
    "refresh",
    "rollup_columns",
    "set_cagg_policies",
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

#: How far back the continuous aggregates' refresh policies look (late data older than this is
#: rolled up by the core's own refresh, within the retention horizon). Shorter than the default
#: 30-day retention of ``windows``, with a margin for a missed run.
REFRESH_LOOKBACK = timedelta(days=28)
#: The continuous aggregates and their bucket widths, in refresh order.
CAGGS: tuple[tuple[str, timedelta], ...] = (
    ("rollup_1m", timedelta(minutes=1)),
    ("rollup_1h", timedelta(hours=1)),
)

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
    for name, typ in rollup_columns():
        if name.endswith("_lo"):
            agg = f"min({name})"
        elif name.endswith("_hi") or name == "novelty_max":
            agg = f"max({name})"
        elif typ == "bigint":
            agg = f"sum({name})::bigint"  # sum(bigint) is numeric: keep the column's type
        else:
            agg = f"sum({name})"
        parts.append(f"{agg} AS {name}")
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
    await set_cagg_policies(conn, REFRESH_LOOKBACK)


_SCHEDULE = {"rollup_1m": timedelta(minutes=1), "rollup_1h": timedelta(minutes=10)}


async def set_cagg_policies(conn: psycopg.AsyncConnection, lookback: timedelta) -> list[str]:
    """(Re)create the refresh policies: window [now - ``lookback``, now - one bucket).

    Late data: the policies refresh every invalidated range within ``lookback`` (only the
    invalidated buckets are recomputed, so a long lookback costs little). ``end_offset`` of one
    bucket keeps the watermark behind the current bucket. ``lookback`` must stay shorter than
    the retention of ``windows`` (see :mod:`cloud_core._horizon`); a view whose bucket cannot
    fit the window TimescaleDB requires (two buckets between the offsets) gets no policy and is
    left to the core's refresh. Returns the views that have a policy.
    """
    kept = []
    for view, width in CAGGS:
        await conn.execute("SELECT remove_continuous_aggregate_policy(%s, true)", (view,))
        if lookback < 3 * width:
            log.warning("%s: lookback %s too short for a refresh policy; none", view, lookback)
            continue
        await conn.execute(
            "SELECT add_continuous_aggregate_policy(%s, start_offset => %s::interval,"
            " end_offset => %s::interval, schedule_interval => %s::interval)",
            (view, lookback, width, _SCHEDULE[view]),
        )
        kept.append(view)
    return kept


@dataclass(frozen=True, slots=True)
class RefreshResult:
    """What one :func:`refresh` did: dirty buckets consumed, rollup rows written, and dirty
    buckets discarded because they lie before the retention horizon."""

    dirty_buckets: int = 0
    minute_rows: int = 0
    hour_rows: int = 0
    before_horizon: int = 0


@dataclass(frozen=True, slots=True)
class RefreshWindow:
    """One ``refresh_continuous_aggregate`` call: ``view`` over ``[start, end)``."""

    view: str
    start: datetime
    end: datetime


def cagg_windows(
    lo: datetime, hi: datetime, *, now: datetime, horizon: datetime | None
) -> list[RefreshWindow]:
    """The refresh windows covering dirty minutes ``lo`` .. ``hi`` (bucket starts).

    Each is aligned to its view's buckets in UTC (``time_bucket``'s alignment), starts no
    earlier than ``horizon`` (rounded up to a bucket) and ends no later than the start of the
    bucket holding ``now``; a view with nothing left to refresh is left out.
    """
    out = []
    for view, width in CAGGS:
        start = floor_to(lo, width)
        if horizon is not None:
            start = max(start, ceil_to(horizon, width))
        end = min(floor_to(hi, width) + width, floor_to(now, width))
        if start < end:
            out.append(RefreshWindow(view, start, end))
    return out


_UPSERT_SET = ", ".join(f"{n} = excluded.{n}" for n, _ in rollup_columns())

_REFRESH_1M = f"""
WITH d AS (
    DELETE FROM rollup_dirty RETURNING tenant, device_id, sensor, bucket
), k AS (
    SELECT DISTINCT tenant, device_id, sensor, bucket FROM d
    WHERE %(horizon)s::timestamptz IS NULL OR bucket >= %(horizon)s::timestamptz
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
SELECT h.tenant, h.device_id, h.sensor, h.hour,
       (SELECT count(*) FROM k), (SELECT count(*) FROM up),
       (SELECT count(*) FROM d WHERE d.bucket < %(horizon)s::timestamptz)
FROM (SELECT 1) AS one LEFT JOIN (
    SELECT tenant, device_id, sensor, date_bin(interval '1 hour', bucket, {_EPOCH}) AS hour
    FROM k GROUP BY 1, 2, 3, 4
) AS h ON true
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

# Dirty minutes up to the current one are taken; later ones stay for a later refresh.
_TAKE_RANGE = """
WITH d AS (DELETE FROM rollup_dirty WHERE bucket < %(end)s RETURNING bucket)
SELECT count(*) FILTER (WHERE %(horizon)s::timestamptz IS NULL OR bucket >= %(horizon)s),
       min(bucket) FILTER (WHERE %(horizon)s::timestamptz IS NULL OR bucket >= %(horizon)s),
       max(bucket), count(*)
FROM d
"""


async def refresh(conn: psycopg.AsyncConnection, caps: Capabilities) -> RefreshResult:
    """Bring the rollups up to date with every window committed so far.

    ``conn`` must be in autocommit mode (a continuous aggregate refresh cannot run inside a
    transaction). Only one refresher runs at a time across all cores (an advisory lock); a call
    that finds it taken waits for it, then refreshes what is still dirty — so when this returns,
    every window committed before the call is in the rollups.
    """
    if caps.continuous_aggregates:
        return await _refresh_caggs(conn, caps)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        horizon = await read_horizon(conn, caps)
        cur = await conn.execute(_REFRESH_1M, {"horizon": horizon})
        found = await cur.fetchall()  # one row per touched hour, or one row of NULLs
        n, rows, old = (int(v) for v in found[0][4:7])
        hours = [r for r in found if r[3] is not None]
        hour_rows = 0
        if hours:
            cols: list[list[object]] = [[r[i] for r in hours] for i in range(4)]
            cur = await conn.execute(_REFRESH_1H, cols)
            hour_rows = max(cur.rowcount, 0)
        return RefreshResult(n, rows, hour_rows, old)


async def _refresh_caggs(conn: psycopg.AsyncConnection, caps: Capabilities) -> RefreshResult:
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        cur = await conn.execute("SELECT now()")
        row = await cur.fetchone()
        assert row is not None
        now: datetime = row[0]
        horizon = await read_horizon(conn, caps)
        end = floor_to(now, CAGGS[0][1])
        cur = await conn.execute(_TAKE_RANGE, {"end": end, "horizon": horizon})
        taken = await cur.fetchone()
    if not taken or not taken[3]:
        return RefreshResult()
    n, lo, hi, all_taken = int(taken[0]), taken[1], taken[2], int(taken[3])
    if lo is not None:
        # If a refresh below fails, the aggregates' own invalidation log still holds the range
        # and the refresh policies pick it up; the dirty log is only this process's shortcut.
        for w in cagg_windows(lo, hi, now=now, horizon=horizon):
            await conn.execute(
                "CALL refresh_continuous_aggregate(%s, %s, %s)", (w.view, w.start, w.end)
            )
    return RefreshResult(dirty_buckets=n, before_horizon=all_taken - n)
