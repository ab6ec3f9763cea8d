"""Feature rollups at 1 minute and 1 hour: one layout, two ways to maintain it.

Shape
-----
Window features are stored as one ``real[]`` per window (channel-major, ``FEATURE_NAMES`` per
channel). Continuous aggregates cannot unnest arrays, and a narrow ``feature_values`` table would
multiply ingest writes by channels x features (93 rows per 3-axis window), so the rollups keep
*per-feature columns for a fixed set of rollup features*: for each channel ``c`` below
:data:`ROLLUP_CHANNELS` and each feature ``f`` in :data:`ROLLUP_FEATURES`, the columns
``{f}_{c}_sum`` (float8), ``{f}_{c}_lo`` and ``{f}_{c}_hi`` (real) and ``{f}_{c}_n`` (the
windows whose value is known: NaN values, and features a COMPACT window or a summary did not
carry, are skipped), plus ``n_{c}``, the windows whose channel ``c`` has a known mean. Rows are
keyed by (tenant, device_id, sensor, source, algo_version, bucket). Sums (not means) make the
hourly level an exact roll-up of the minute level and let a query re-bucket to any multiple of
the rollup width. Other features and channels are answered from the windows directly, with the
same definition (mean of the per-window values).

Two sources roll up into two rollup families of that one layout (:data:`SOURCES`): ``windows``
into ``rollup_1m``/``rollup_1h``, and ``summaries`` into ``summary_1m``/``summary_1h``. A summary
counts as the windows it stands for: ``windows`` and the counts add its ``windows``, its mean
weighs that many in the sums, and its min and max bound ``_lo`` and ``_hi`` — so a summary of N
windows and those N windows sent one by one give the same figures. It lands in the bucket of its
``t0`` (the start of its first window). Queries add the two families bucket by bucket
(continuous aggregates read one hypertable each, so the families cannot be one aggregate).

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
    "CAGGS",
    "REFRESH_LOOKBACK",
    "ROLLUP_CHANNELS",
    "ROLLUP_FEATURES",
    "SOURCES",
    "SUMMARIES",
    "WINDOWS",
    "RefreshResult",
    "RefreshWindow",
    "Source",
    "cagg_queries",
    "cagg_windows",
    "create_rollups",
    "create_source_rollups",
    "hierarchical",
    "known",
    "refresh",
    "rollup_aggregates",
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

_KEY = "tenant, device_id, sensor, source, algo_version"
_LOCK_KEY = 0x62686E72_6F6C6C  # "bhnr" "oll": one refresher at a time across cores
_EPOCH = "timestamptz 'epoch'"


@dataclass(frozen=True, slots=True)
class Source:
    """A relation that rolls up, and how much each of its rows weighs.

    A ``windows`` row is one window (its features are the values); a ``summaries`` row stands
    for ``windows`` windows (its ``mean`` weighs that many, its ``lo``/``hi`` are the smallest
    and largest value over them). Both keep the features' layout (channel-major,
    ``FEATURE_NAMES`` per channel, NaN where not known).
    """

    table: str
    minute: str  # its 1-minute rollup
    hour: str  # its 1-hour rollup
    weight: str | None  # the column of windows a row stands for; None: one
    value: str
    lo: str
    hi: str
    novelty: str
    where: str  # rows that roll up

    def count(self, cond: str) -> str:
        """Windows of the rows where ``cond`` holds (bigint)."""
        if self.weight is None:
            return f"count(*) FILTER (WHERE {cond})"
        return f"coalesce(sum({self.weight}) FILTER (WHERE {cond}), 0)::bigint"


WINDOWS = Source(
    "windows", "rollup_1m", "rollup_1h", None, "features", "features", "features", "novelty",
    "features IS NOT NULL AND algo_version IS NOT NULL",
)  # fmt: skip
SUMMARIES = Source(
    "summaries", "summary_1m", "summary_1h", "windows", "mean", "lo", "hi", "novelty_max", "true"
)
SOURCES = (WINDOWS, SUMMARIES)

#: The continuous aggregates and their bucket widths, in refresh order (each 1-hour view after
#: the 1-minute view it may be built on).
CAGGS: tuple[tuple[str, timedelta], ...] = tuple(
    (view, width)
    for src in SOURCES
    for view, width in ((src.minute, timedelta(minutes=1)), (src.hour, timedelta(hours=1)))
)


def rollup_columns(*, counts: bool = True) -> list[tuple[str, str]]:
    """(name, SQL type) of every aggregate column of a rollup, in table order.

    ``counts`` adds the per-feature window counts of schema v4 (``{f}_{c}_n``: the windows
    whose value of feature ``f`` on channel ``c`` is known), after the columns of v2.
    """
    cols = [("windows", "bigint"), ("novelty_max", "real")]
    for c in range(ROLLUP_CHANNELS):
        cols.append((f"n_{c}", "bigint"))
        for f in ROLLUP_FEATURES:
            cols += [(f"{f}_{c}_sum", "float8"), (f"{f}_{c}_lo", "real"), (f"{f}_{c}_hi", "real")]
    if counts:
        cols += [(f"{f}_{c}_n", "bigint") for c in range(ROLLUP_CHANNELS) for f in ROLLUP_FEATURES]
    return cols


def _index(feature: str, channel: int) -> int:
    return channel * len(kernels.FEATURE_NAMES) + kernels.FEATURE_NAMES.index(feature) + 1


def known(array: str, feature: str, channel: int) -> str:
    """SQL condition: ``array`` holds a value of ``feature`` on ``channel`` (not NaN, and the
    channel exists: past the array's end the element is NULL)."""
    return f"{array}[{_index(feature, channel)}] <> 'NaN'::real"


def window_aggregates(src: Source = WINDOWS, *, counts: bool = True) -> str:
    """Aggregate select list over ``src`` rows, in :func:`rollup_columns` order.

    Each value is weighed by the windows its row stands for; a feature is summed, counted and
    bounded only where it is known, so a row carrying a subset of the features (a COMPACT
    window, a summary) adds to the features it has. ``n_{c}`` keeps its v2 meaning: the
    windows whose channel ``c`` has a known mean.
    """
    weight = "" if src.weight is None else f" * {src.weight}"
    total = "count(*)" if src.weight is None else f"sum({src.weight})::bigint"
    parts = [f"{total} AS windows", f"max({src.novelty}) AS novelty_max"]
    tail = []
    for c in range(ROLLUP_CHANNELS):
        parts.append(f"{src.count(known(src.value, 'mean', c))} AS n_{c}")
        for f in ROLLUP_FEATURES:
            i, ok = _index(f, c), known(src.value, f, c)
            parts += [
                f"sum({src.value}[{i}]::float8{weight}) FILTER (WHERE {ok}) AS {f}_{c}_sum",
                f"min({src.lo}[{i}]) FILTER (WHERE {ok}) AS {f}_{c}_lo",
                f"max({src.hi}[{i}]) FILTER (WHERE {ok}) AS {f}_{c}_hi",
            ]
            tail.append(f"{src.count(ok)} AS {f}_{c}_n")
    return ",\n    ".join(parts + (tail if counts else []))


def rollup_aggregates(*, counts: bool = True) -> str:
    """Aggregate select list that rolls rollup rows up into coarser buckets."""
    parts = []
    for name, typ in rollup_columns(counts=counts):
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


def _table_ddl(name: str, counts: bool) -> str:
    cols = ",\n    ".join(f"{n} {t}" for n, t in rollup_columns(counts=counts))
    return f"""
    CREATE TABLE {name} (
        tenant text NOT NULL, device_id text NOT NULL, sensor text NOT NULL,
        source smallint NOT NULL, algo_version integer NOT NULL, bucket timestamptz NOT NULL,
        {cols},
        PRIMARY KEY (tenant, device_id, sensor, bucket, source, algo_version)
    )"""


async def create_rollups(conn: psycopg.AsyncConnection, caps: Capabilities) -> None:
    """Create ``rollup_dirty``, ``rollup_1m`` and ``rollup_1h`` as of schema v2 (DDL; used by
    migration 2, whose layout migration 4 extends)."""
    await conn.execute(
        "CREATE TABLE rollup_dirty ("
        " tenant text NOT NULL, device_id text NOT NULL, sensor text NOT NULL,"
        " bucket timestamptz NOT NULL)"
    )
    await create_source_rollups(conn, caps, WINDOWS, counts=False)
    if caps.continuous_aggregates:
        await set_cagg_policies(conn, REFRESH_LOOKBACK, views=CAGGS[:2])


async def create_source_rollups(
    conn: psycopg.AsyncConnection, caps: Capabilities, src: Source, *, counts: bool = True
) -> None:
    """Create the 1-minute and 1-hour rollups of ``src``: tables, or continuous aggregates
    (without refresh policies: see :func:`set_cagg_policies`)."""
    if not caps.continuous_aggregates:
        await conn.execute(_table_ddl(src.minute, counts))
        await conn.execute(_table_ddl(src.hour, counts))
        return
    queries = cagg_queries(src, caps, counts=counts)
    for view, query in zip((src.minute, src.hour), queries, strict=True):
        await conn.execute(
            f"CREATE MATERIALIZED VIEW {view}"
            " WITH (timescaledb.continuous, timescaledb.materialized_only = false)"
            f" AS {query} WITH NO DATA"
        )


def cagg_queries(src: Source, caps: Capabilities, *, counts: bool = True) -> tuple[str, str]:
    """The queries of ``src``'s 1-minute and 1-hour continuous aggregates (the hour built on
    the minute one where TimescaleDB allows, else on ``src``'s table again)."""
    minute = f"""
        SELECT {_KEY}, time_bucket(interval '1 minute', t0) AS bucket,
            {window_aggregates(src, counts=counts)}
        FROM {src.table} WHERE {src.where}
        GROUP BY {_KEY}, bucket"""
    if hierarchical(caps):
        source, aggs = src.minute, rollup_aggregates(counts=counts)
        bucket = "time_bucket(interval '1 hour', bucket)"
        where = "true"
    else:
        source, aggs = src.table, window_aggregates(src, counts=counts)
        bucket, where = "time_bucket(interval '1 hour', t0)", src.where
    hour = f"""
        SELECT {_KEY}, {bucket} AS bucket,
            {aggs}
        FROM {source} WHERE {where}
        GROUP BY {_KEY}, {bucket}"""
    return minute, hour


_SCHEDULE = {timedelta(minutes=1): timedelta(minutes=1), timedelta(hours=1): timedelta(minutes=10)}


async def set_cagg_policies(
    conn: psycopg.AsyncConnection,
    lookback: timedelta,
    *,
    views: tuple[tuple[str, timedelta], ...] = CAGGS,
) -> list[str]:
    """(Re)create the refresh policies of ``views``: window [now - ``lookback``, now - one
    bucket).

    Late data: the policies refresh every invalidated range within ``lookback`` (only the
    invalidated buckets are recomputed, so a long lookback costs little). ``end_offset`` of one
    bucket keeps the watermark behind the current bucket. ``lookback`` must stay shorter than
    the retention of ``windows`` (see :mod:`cloud_core._horizon`); a view whose bucket cannot
    fit the window TimescaleDB requires (two buckets between the offsets) gets no policy and is
    left to the core's refresh. Returns the views that have a policy.
    """
    kept = []
    for view, width in views:
        await conn.execute("SELECT remove_continuous_aggregate_policy(%s, true)", (view,))
        if lookback < 3 * width:
            log.warning("%s: lookback %s too short for a refresh policy; none", view, lookback)
            continue
        await conn.execute(
            "SELECT add_continuous_aggregate_policy(%s, start_offset => %s::interval,"
            " end_offset => %s::interval, schedule_interval => %s::interval)",
            (view, lookback, width, _SCHEDULE[width]),
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


_COLUMNS = ", ".join(n for n, _ in rollup_columns())
_UPSERT_SET = ", ".join(f"{n} = excluded.{n}" for n, _ in rollup_columns())
_CONFLICT = f"""ON CONFLICT (tenant, device_id, sensor, bucket, source, algo_version)
    DO UPDATE SET {_UPSERT_SET}"""


def _minute_parts(src: Source, n: int) -> str:
    """CTEs ``agg{n}`` and ``up{n}``: recompute ``src``'s minutes of the dirty buckets ``k``."""
    return f"""agg{n} AS (
    SELECT w.tenant, w.device_id, w.sensor, w.source, w.algo_version, k.bucket,
        {window_aggregates(src)}
    FROM k JOIN {src.table} w
      ON w.tenant = k.tenant AND w.device_id = k.device_id AND w.sensor = k.sensor
     AND w.t0 >= k.bucket AND w.t0 < k.bucket + interval '1 minute'
    WHERE {src.where}
    GROUP BY w.tenant, w.device_id, w.sensor, w.source, w.algo_version, k.bucket
), up{n} AS (
    INSERT INTO {src.minute} AS r (tenant, device_id, sensor, source, algo_version, bucket,
                                   {_COLUMNS})
    SELECT * FROM agg{n}
    ORDER BY tenant, device_id, sensor, bucket, source, algo_version
    {_CONFLICT}
    RETURNING 1
)"""


_REFRESH_1M = f"""
WITH d AS (
    DELETE FROM rollup_dirty RETURNING tenant, device_id, sensor, bucket
), k AS (
    SELECT DISTINCT tenant, device_id, sensor, bucket FROM d
    WHERE %(horizon)s::timestamptz IS NULL OR bucket >= %(horizon)s::timestamptz
), {", ".join(_minute_parts(src, n) for n, src in enumerate(SOURCES))}
SELECT h.tenant, h.device_id, h.sensor, h.hour,
       (SELECT count(*) FROM k),
       {" + ".join(f"(SELECT count(*) FROM up{n})" for n in range(len(SOURCES)))},
       (SELECT count(*) FROM d WHERE d.bucket < %(horizon)s::timestamptz)
FROM (SELECT 1) AS one LEFT JOIN (
    SELECT tenant, device_id, sensor, date_bin(interval '1 hour', bucket, {_EPOCH}) AS hour
    FROM k GROUP BY 1, 2, 3, 4
) AS h ON true
"""


def _refresh_hour(src: Source) -> str:
    return f"""
WITH h(tenant, device_id, sensor, bucket) AS (
    SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::timestamptz[])
)
INSERT INTO {src.hour} AS r (tenant, device_id, sensor, source, algo_version, bucket, {_COLUMNS})
SELECT m.tenant, m.device_id, m.sensor, m.source, m.algo_version, h.bucket,
    {rollup_aggregates()}
FROM h JOIN {src.minute} m
  ON m.tenant = h.tenant AND m.device_id = h.device_id AND m.sensor = h.sensor
 AND m.bucket >= h.bucket AND m.bucket < h.bucket + interval '1 hour'
GROUP BY m.tenant, m.device_id, m.sensor, m.source, m.algo_version, h.bucket
ORDER BY 1, 2, 3, 6, 4, 5
{_CONFLICT}
"""


_REFRESH_1H = [_refresh_hour(src) for src in SOURCES]

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
            for sql in _REFRESH_1H:
                cur = await conn.execute(sql, cols)
                hour_rows += max(cur.rowcount, 0)
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
