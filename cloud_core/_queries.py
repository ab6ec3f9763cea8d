"""Read-side SQL: fleet statistics and feature series. Plain functions of a connection."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone

import psycopg

import kernels

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)

# Seq gaps per device (seq starts at 1), then which of the missing seqs an eviction explains.
_GAPS = """
WITH ordered AS (
    SELECT tenant, device_id, seq,
           lag(seq, 1, 0::bigint) OVER (PARTITION BY tenant, device_id ORDER BY seq) AS prev
    FROM batches WHERE (%(tenant)s = '' OR tenant = %(tenant)s)
), missing AS (
    SELECT o.tenant, o.device_id, generate_series(o.prev + 1, o.seq - 1) AS seq
    FROM ordered o WHERE o.seq - o.prev > 1
)
SELECT
    count(*) FILTER (WHERE e.tenant IS NULL) AS unexplained,
    count(*) FILTER (WHERE e.tenant IS NOT NULL) AS explained
FROM missing m
LEFT JOIN LATERAL (
    SELECT tenant FROM evictions e
    WHERE e.tenant = m.tenant AND e.device_id = m.device_id
      AND m.seq BETWEEN e.first_seq AND e.last_seq
    LIMIT 1
) e ON true
"""

_COUNTS = """
SELECT
    (SELECT count(*) FROM devices WHERE %(tenant)s = '' OR tenant = %(tenant)s),
    (SELECT count(*) FROM batches WHERE %(tenant)s = '' OR tenant = %(tenant)s),
    (SELECT coalesce(sum(n_windows), 0) FROM batches WHERE %(tenant)s = '' OR tenant = %(tenant)s),
    (SELECT coalesce(sum(n_samples), 0) FROM batches WHERE %(tenant)s = '' OR tenant = %(tenant)s),
    (SELECT count(*) FROM dead_letters WHERE %(tenant)s = '' OR tenant = %(tenant)s)
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

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


async def stats(conn: psycopg.AsyncConnection, tenant: str = "") -> Stats:
    """Counts over the whole store (or one tenant). A gap is a seq missing below a stored one."""
    params = {"tenant": tenant}
    cur = await conn.execute(_COUNTS, params)
    counts = await cur.fetchone()
    cur = await conn.execute(_GAPS, params)
    gaps = await cur.fetchone()
    assert counts is not None and gaps is not None
    devices, batches, windows, samples, dead = (int(c) for c in counts)
    return Stats(devices, batches, windows, samples, dead, int(gaps[0]), int(gaps[1]))


def feature_index(feature: str, channel: int) -> int:
    """1-based index of ``feature`` of ``channel`` in a stored features array."""
    try:
        fi = kernels.FEATURE_NAMES.index(feature)
    except ValueError:
        raise ValueError(f"unknown feature {feature!r}") from None
    if channel < 0:
        raise ValueError(f"bad channel {channel}")
    return channel * len(kernels.FEATURE_NAMES) + fi + 1


async def series(
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
    bucket_fn: str = "date_bin",
) -> tuple[list[int], list[float]]:
    """A feature's values per window (or the mean per bucket) for one device and time range.

    Only windows computed with the current ``kernels.ALGO_VERSION`` are returned, so that the
    feature index means the same thing for every row.
    """
    idx = feature_index(feature, channel)
    where = """
        FROM windows WHERE tenant = %(tenant)s AND device_id = %(device)s AND sensor = %(sensor)s
          AND t0 >= timestamptz 'epoch' + (%(start)s::bigint / 1000) * interval '1 microsecond'
          AND t0 <  timestamptz 'epoch' + (%(end)s::bigint / 1000) * interval '1 microsecond'
          AND algo_version = %(algo)s AND features[%(idx)s] IS NOT NULL
    """
    params = {
        "tenant": tenant,
        "device": device_id,
        "sensor": sensor,
        "start": start_ns,
        "end": end_ns,
        "algo": kernels.ALGO_VERSION,
        "idx": idx,
        "bucket": bucket_s,
    }
    if bucket_s > 0:
        bucket = (
            "time_bucket(make_interval(secs => %(bucket)s), t0)"
            if bucket_fn == "time_bucket"
            else "date_bin(make_interval(secs => %(bucket)s), t0, timestamptz 'epoch')"
        )
        sql = f"SELECT {bucket} AS b, avg(features[%(idx)s]) {where} GROUP BY b ORDER BY b"
    else:
        sql = f"SELECT t0, features[%(idx)s] {where} ORDER BY t0"
    cur = await conn.execute(sql, params)
    rows = await cur.fetchall()
    return [(r[0] - _EPOCH) // _US * 1000 for r in rows], [float(r[1]) for r in rows]
