"""The ``alerts`` table: episodes written in the ingest transaction, and the Alerts query.

:func:`record` runs inside the transaction that stores the batches the judged windows came
from, after the batches' insert has said which batches are new — so a redelivered batch is never
judged again and an episode is extended exactly once per window. Per device it first takes a
transaction-scoped advisory lock (several cores ingest in parallel; two flushes of one device
must not both open "the" episode), in one order for all devices so that two flushes never wait
on each other crosswise. It then reads the stored episodes the windows could join (those of the
same stream ending at most two window lengths before the earliest window, by the index on
(tenant, device_id, sensor, end_ns)), merges the windows in with
:func:`cloud_core._alerting.join_episode` and writes the changed and the new episodes with one
statement each.

Times are ns since the Unix epoch (``bigint``), the unit of the wire and of the Query API, so
that the episode rule sees the same integers as the in-process cloud does.
"""

from __future__ import annotations

import json
import zlib
from collections import Counter, defaultdict
from typing import Any

import psycopg

from cloud_core._alerting import GAP_WINDOWS, Judged, StreamKey, join_episode
from cloud_core._alerts import Alert
from cloud_core._queries import to_ns

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "list_alerts", "record"]

#: Advisory lock class of the per-device episode lock (``pg_advisory_xact_lock(int4, int4)``).
_LOCK_CLASS = 0x616C7274  # "alrt"
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000


def _lock_id(tenant: str, device: str) -> int:
    h = zlib.crc32(f"{tenant}\x00{device}".encode())
    return h - (1 << 32) if h >= 1 << 31 else h


_LOCK = """
SELECT count(pg_advisory_xact_lock(%s, k))
FROM (SELECT DISTINCT k FROM unnest(%s::int4[]) AS k ORDER BY k) AS s
"""
_CANDIDATES = """
SELECT a.id, a.tenant, a.device_id, a.sensor, a.start_ns, a.end_ns, a.raised_at, a.score,
       a.windows, a.raw_windows, a.kinds
FROM unnest(%s::text[], %s::text[], %s::text[], %s::int8[], %s::int8[])
     AS q(tenant, device_id, sensor, lo, hi)
JOIN alerts a ON a.tenant = q.tenant AND a.device_id = q.device_id AND a.sensor = q.sensor
             AND a.end_ns >= q.lo AND a.start_ns <= q.hi
ORDER BY a.id
"""
_UPDATE = """
UPDATE alerts a
SET start_ns = u.start_ns, end_ns = u.end_ns, score = u.score, windows = u.windows,
    raw_windows = u.raw_windows, kind = u.kind, kinds = u.kinds::jsonb, updated_at = now()
FROM unnest(%s::int8[], %s::int8[], %s::int8[], %s::float8[], %s::int8[], %s::int8[],
            %s::text[], %s::text[])
     AS u(id, start_ns, end_ns, score, windows, raw_windows, kind, kinds)
WHERE a.id = u.id
"""
_INSERT = """
INSERT INTO alerts (tenant, device_id, sensor, kind, kinds, start_ns, end_ns, score, windows,
                    raw_windows)
SELECT tenant, device_id, sensor, kind, kinds::jsonb, start_ns, end_ns, score, windows,
       raw_windows
FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::int8[], %s::int8[],
            %s::float8[], %s::int8[], %s::int8[])
     AS n(tenant, device_id, sensor, kind, kinds, start_ns, end_ns, score, windows, raw_windows)
"""


# Alert attributes in the order of the unnest() arrays of _UPDATE and _INSERT ("kinds": JSON).
_UPDATED = ("id", "start_ns", "end_ns", "score", "windows", "raw_windows", "kind", "kinds")
_OPENED = ("tenant", "device", "sensor", "kind", "kinds", "start_ns", "end_ns", "score",
           "windows", "raw_windows")  # fmt: skip


def _arrays(alerts: list[Alert], fields: tuple[str, ...]) -> list[list[Any]]:
    """One array per field of ``alerts``, for a statement over unnest()."""
    return [
        [
            json.dumps(dict(sorted(a.kinds.items()))) if f == "kinds" else getattr(a, f)
            for a in alerts
        ]
        for f in fields
    ]


async def record(
    cur: psycopg.AsyncCursor[Any], judged: list[Judged], *, gap_windows: float = GAP_WINDOWS
) -> list[str]:
    """Merge the anomalous windows ``judged`` (in judging order) into the stored episodes, in
    the caller's transaction; return the kinds of the episodes opened ("unknown" where no
    check said what)."""
    if not judged:
        return []
    await cur.execute(_LOCK, (_LOCK_CLASS, [_lock_id(j.key[0], j.key[1]) for j in judged]))
    spans: dict[StreamKey, list[int]] = {}
    for j in judged:
        gap = round(gap_windows * j.length_ns)
        lo, hi = j.t0_ns - gap, j.t0_ns + j.length_ns + gap
        span = spans.setdefault(j.key, [lo, hi])
        span[0], span[1] = min(span[0], lo), max(span[1], hi)
    keys = list(spans)
    await cur.execute(
        _CANDIDATES,
        (
            [k[0] for k in keys],
            [k[1] for k in keys],
            [k[2] for k in keys],
            [spans[k][0] for k in keys],
            [spans[k][1] for k in keys],
        ),
    )
    episodes: dict[StreamKey, list[Alert]] = defaultdict(list)
    for r in await cur.fetchall():
        a = Alert(int(r[0]), r[1], r[2], r[3], int(r[4]), int(r[5]), to_ns(r[6]), float(r[7]))
        a.windows, a.raw_windows, a.kinds = int(r[8]), int(r[9]), Counter(r[10])
        episodes[(a.tenant, a.device, a.sensor)].append(a)
    changed: dict[int, Alert] = {}
    opened: list[Alert] = []
    for j in judged:
        alert, new = join_episode(
            episodes[j.key], j.key, j.t0_ns, j.length_ns, j.verdict, gap_windows=gap_windows
        )
        if new:
            opened.append(alert)
        elif alert.id:
            changed[alert.id] = alert
    if changed:
        await cur.execute(_UPDATE, _arrays(list(changed.values()), _UPDATED))
    if opened:
        await cur.execute(_INSERT, _arrays(opened, _OPENED))
    return [a.kind or "unknown" for a in opened]


_LIST = """
SELECT id, tenant, device_id, sensor, kind, start_ns, end_ns, raised_at, score, windows,
       raw_windows
FROM alerts WHERE {where}
ORDER BY start_ns DESC, id DESC
LIMIT %(limit)s
"""
# Only the filters asked for are in the statement, so that each shape plans on its index.
_FILTERS = (
    ("tenant", "tenant = %(tenant)s"),
    ("device", "device_id = %(device)s"),
    ("start", "end_ns > %(start)s"),
    ("end", "start_ns < %(end)s"),
)


async def list_alerts(
    conn: psycopg.AsyncConnection,
    *,
    tenant: str = "",
    device_id: str = "",
    start_ns: int = 0,
    end_ns: int = 0,
    limit: int = DEFAULT_LIMIT,
) -> list[dict[str, Any]]:
    """Alerts overlapping [start_ns, end_ns) (0: unbounded), newest first (by start); keys are
    the fields of the ``Alert`` message. The tenant and device filters are in the SQL."""
    if limit < 0 or start_ns < 0 or end_ns < 0:
        raise ValueError(f"bad limit {limit} or range {start_ns}..{end_ns}")
    params = {
        "tenant": tenant,
        "device": device_id,
        "start": start_ns,
        "end": end_ns,
        "limit": min(limit or DEFAULT_LIMIT, MAX_LIMIT),
    }
    where = " AND ".join(cond for name, cond in _FILTERS if params[name]) or "true"
    cur = await conn.execute(_LIST.format(where=where), params)
    return [
        {
            "id": int(r[0]),
            "tenant": r[1],
            "device_id": r[2],
            "sensor": r[3],
            "kind": r[4],
            "start_ns": int(r[5]),
            "end_ns": int(r[6]),
            "raised_ns": to_ns(r[7]),
            "score": float(r[8]),
            "windows": int(r[9]),
            "raw_windows": int(r[10]),
        }
        for r in await cur.fetchall()
    ]
