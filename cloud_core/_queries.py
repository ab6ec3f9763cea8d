"""Read-side SQL: store statistics and feature series. Plain functions of a connection.

A bucketed series is answered from the rollups when the feature and channel are rolled up and the
bucket width is a multiple of a rollup's (1 h, else 1 min), and from the windows otherwise; both
give the mean, min and max of the per-window values over the windows whose value is known.
Summaries count as the windows they stand for in both (their mean weighs that many windows,
their min and max bound the bucket's): the rollups of windows and of summaries are added bucket
by bucket, as are the windows and summaries themselves. A per-window series lists windows only
(a COMPACT window where it carried the feature). Bucketed ranges are widened to whole buckets
(start floored, end ceiled to the bucket width, buckets aligned to the Unix epoch), so the two
sources cover the same windows. Window counts (:func:`stats`) include summarised windows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg

import kernels
import protos
from cloud_core._rollups import ROLLUP_CHANNELS, ROLLUP_FEATURES, SUMMARIES, WINDOWS, known

__all__ = ["Series", "Stats", "feature_index", "feature_series", "stats", "to_ns"]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_COMPACT = int(protos.Offload.OFFLOAD_COMPACT)
_US = timedelta(microseconds=1)

# Seq gaps per device (seq starts at 1) and how much of them reported evictions explain, as
# sums of range lengths: gaps and evictions become one multirange per device each, and their
# intersection is what is explained. The cost grows with the rows read, never with the size of
# a gap (a seq of 2**53 after 1 costs what a seq of 3 does).
GAP_CTES = """
b AS (
    SELECT tenant, device_id, seq,
           lag(seq, 1, 0::bigint) OVER (PARTITION BY tenant, device_id ORDER BY seq) AS prev
    FROM batches WHERE (%(tenant)s = '' OR tenant = %(tenant)s)
                   AND (%(device)s = '' OR device_id = %(device)s)
), g AS (
    SELECT tenant, device_id, range_agg(int8range(prev + 1, seq)) AS gaps
    FROM b WHERE seq - prev > 1 GROUP BY tenant, device_id
), e AS (
    SELECT tenant, device_id,
           range_agg(int8range(first_seq, least(last_seq, 9223372036854775806) + 1)) AS ev
    FROM evictions WHERE (%(tenant)s = '' OR tenant = %(tenant)s)
                     AND (%(device)s = '' OR device_id = %(device)s)
    GROUP BY tenant, device_id
), per_device AS (
    SELECT tenant, device_id,
           (SELECT sum(upper(r) - lower(r)) FROM unnest(g.gaps) AS r) AS missing,
           (SELECT sum(upper(r) - lower(r))
              FROM unnest(g.gaps * coalesce(e.ev, '{}'::int8multirange)) AS r) AS explained
    FROM g LEFT JOIN e USING (tenant, device_id)
)"""
_GAPS = f"""
WITH {GAP_CTES}
SELECT coalesce(sum(missing), 0) - coalesce(sum(explained), 0) AS unexplained,
       coalesce(sum(explained), 0) AS explained
FROM per_device
"""

_COUNTS = """
SELECT
    (SELECT count(*) FROM devices WHERE %(tenant)s = '' OR tenant = %(tenant)s),
    (SELECT count(*) FROM batches WHERE %(tenant)s = '' OR tenant = %(tenant)s),
    (SELECT coalesce(sum(n_windows + n_summarized), 0) FROM batches
      WHERE %(tenant)s = '' OR tenant = %(tenant)s),
    (SELECT coalesce(sum(n_samples), 0) FROM batches WHERE %(tenant)s = '' OR tenant = %(tenant)s),
    d.total, d.rate_limited
FROM (SELECT count(*) AS total, count(*) FILTER (WHERE reason LIKE 'rate_limited%%') AS rate_limited
      FROM dead_letters WHERE %(tenant)s = '' OR tenant = %(tenant)s) AS d
"""


@dataclass(frozen=True, slots=True)
class Stats:
    devices: int
    batches: int
    windows: int
    samples: int
    dead_letters: int
    gaps_unexplained: int
    gaps_explained: int
    # Of dead_letters: refused by a bridge's quotas (reason ``rate_limited: ...``).
    dead_letters_rate_limited: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


async def stats(conn: psycopg.AsyncConnection, tenant: str = "") -> Stats:
    """Counts over the whole store (or one tenant). A gap is a seq missing below a stored one."""
    params = {"tenant": tenant, "device": ""}
    cur = await conn.execute(_COUNTS, params)
    counts = await cur.fetchone()
    cur = await conn.execute(_GAPS, params)
    gaps = await cur.fetchone()
    assert counts is not None and gaps is not None
    devices, batches, windows, samples, dead, limited = (int(c) for c in counts)
    return Stats(devices, batches, windows, samples, dead, int(gaps[0]), int(gaps[1]), limited)


def feature_index(feature: str, channel: int) -> int:
    """1-based index of ``feature`` of ``channel`` in a stored features array."""
    try:
        fi = kernels.FEATURE_NAMES.index(feature)
    except ValueError:
        raise ValueError(f"unknown feature {feature!r}") from None
    if channel < 0:
        raise ValueError(f"bad channel {channel}")
    return channel * len(kernels.FEATURE_NAMES) + fi + 1


def to_ns(t: datetime) -> int:
    """A timestamptz as ns since the Unix epoch (microsecond precision)."""
    return (t - _EPOCH) // _US * 1000


@dataclass(frozen=True, slots=True)
class Series:
    """A feature's series: per window, or per bucket with min, max and window counts."""

    t_ns: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    mins: list[float] = field(default_factory=list)
    maxs: list[float] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    resolution: str = "windows"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_TS = "timestamptz 'epoch' + (%({})s::bigint / 1000) * interval '1 microsecond'"
_COMMON = f"""
    tenant = %(tenant)s AND device_id = %(device)s AND sensor = %(sensor)s
    AND algo_version = %(algo)s AND (%(source)s = 0 OR source = %(source)s)
    AND {{col}} >= {_TS.format("start")} AND {{col}} < {_TS.format("end")}
"""
_GRID = "date_bin(make_interval(secs => %(bucket)s), {col}, timestamptz 'epoch')"


def _rollup_for(feature: str, channel: int, bucket_s: int) -> tuple[str, str] | None:
    """The (window, summary) rollups that answer, or None: from the windows themselves."""
    if feature not in ROLLUP_FEATURES or channel >= ROLLUP_CHANNELS:
        return None
    if bucket_s % 3600 == 0:
        return WINDOWS.hour, SUMMARIES.hour
    if bucket_s % 60 == 0:
        return WINDOWS.minute, SUMMARIES.minute
    return None


def _bucketed_sql(feature: str, channel: int, idx: int, tables: tuple[str, str] | None) -> str:
    if tables is not None:
        p = f"{feature}_{channel}"
        parts = [
            f"""SELECT {_GRID.format(col="bucket")} AS b, {p}_sum AS s, {p}_n AS n,
                {p}_lo AS lo, {p}_hi AS hi
            FROM {table} WHERE {_COMMON.format(col="bucket")}"""
            for table in tables
        ]
    else:
        parts = [
            f"""SELECT {_GRID.format(col="t0")} AS b, {src.value}[{idx}]::float8{weight} AS s,
                {count} AS n, {src.lo}[{idx}] AS lo, {src.hi}[{idx}] AS hi
            FROM {src.table} WHERE {_COMMON.format(col="t0")}
              AND {known(src.value, feature, channel)}"""
            for src, weight, count in ((WINDOWS, "", "1"), (SUMMARIES, " * windows", "windows"))
        ]
    union = "\n            UNION ALL\n            ".join(parts)
    return f"""
        SELECT b, sum(s) / sum(n), min(lo)::float8, max(hi)::float8, sum(n)::bigint
        FROM (
            {union}
        ) AS r
        GROUP BY b HAVING sum(n) > 0 ORDER BY b
        """


async def feature_series(
    conn: psycopg.AsyncConnection,
    *,
    tenant: str,
    device_id: str,
    sensor: str,
    feature: str,
    channel: int = 0,
    start_ns: int,
    end_ns: int,
    bucket_s: int = 0,
    source: int = 0,
) -> Series:
    """A feature's values per window, or mean/min/max per bucket, for one device and range.

    Parameters
    ----------
    feature, channel : a name in ``kernels.FEATURE_NAMES`` and a channel index.
    start_ns, end_ns : the range ``[start, end)`` of window start times, ns since the epoch.
    bucket_s : 0 for one point per window, else the bucket width in seconds.
    source : 0 any, 1 device-computed, 2 cloud-computed features only.

    Only windows computed with the current ``kernels.ALGO_VERSION`` are returned, so that the
    feature index means the same thing for every row.
    """
    idx = feature_index(feature, channel)
    if bucket_s < 0 or source not in (0, 1, 2):
        raise ValueError(f"bad bucket_s {bucket_s} or source {source}")
    params = {
        "tenant": tenant,
        "device": device_id,
        "sensor": sensor,
        "start": start_ns,
        "end": end_ns,
        "algo": kernels.ALGO_VERSION,
        "bucket": bucket_s,
        "source": source,
    }
    if bucket_s == 0:
        # a COMPACT window without the feature is left out (its NaN says "not sent")
        sql = f"""SELECT t0, features[{idx}]::float8 FROM windows
            WHERE {_COMMON.format(col="t0")} AND features[{idx}] IS NOT NULL
              AND (offload <> {_COMPACT} OR features[{idx}] <> 'NaN'::real)
            ORDER BY t0"""
        cur = await conn.execute(sql, params)
        rows = await cur.fetchall()
        return Series([to_ns(r[0]) for r in rows], [float(r[1]) for r in rows])
    width = bucket_s * 1_000_000_000
    params["start"] = start_ns // width * width
    params["end"] = -(-end_ns // width) * width
    tables = _rollup_for(feature, channel, bucket_s)
    cur = await conn.execute(_bucketed_sql(feature, channel, idx, tables), params)
    rows = await cur.fetchall()
    return Series(
        [to_ns(r[0]) for r in rows],
        [float(r[1]) for r in rows],
        [float(r[2]) for r in rows],
        [float(r[3]) for r in rows],
        [int(r[4]) for r in rows],
        tables[0] if tables else "windows",
    )
