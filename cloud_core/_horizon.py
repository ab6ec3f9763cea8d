"""The retention horizon: the time before which raw windows may have been dropped.

A rollup bucket before the horizon must never be recomputed from ``windows``: its raw data is
gone (or partly gone), and recomputing would replace the rollup by an aggregate of nothing — or
of a late batch alone. With continuous aggregates this is TimescaleDB's documented rule (a
refresh over a range whose chunks were dropped deletes the aggregates there); on plain
PostgreSQL the core's own refresh would do the same. So every refresh starts at the horizon.

The horizon is the later of what :func:`cloud_core.apply_retention` recorded (table
``retention_horizon``, only ever moving forward) and, where a TimescaleDB retention policy
drops ``windows`` chunks on its own, ``now() - drop_after`` — plus :data:`MARGIN` for a policy
run racing the refresh. Bucket-aligned and time-zone independent: everything here is UTC.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg

from cloud_core._capabilities import Capabilities

__all__ = ["EPOCH", "MARGIN", "ceil_to", "floor_to", "read_horizon", "record_horizon"]

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MARGIN = timedelta(hours=1)
_US = timedelta(microseconds=1)


def floor_to(t: datetime, width: timedelta) -> datetime:
    """Start of the epoch-aligned bucket of ``width`` holding ``t`` (aware), in UTC.

    ``time_bucket`` and ``date_bin(.., timestamptz 'epoch')`` buckets of a minute or an hour,
    whatever the session's time zone (``date_trunc`` on a timestamptz is not: in a +05:30 zone
    it cuts hours at :30 UTC).
    """
    us = (t.astimezone(timezone.utc) - EPOCH) // _US
    w = width // _US
    return EPOCH + (us - us % w) * _US


def ceil_to(t: datetime, width: timedelta) -> datetime:
    """End of the bucket holding ``t``, or ``t`` itself when it starts a bucket."""
    start = floor_to(t, width)
    return start if start == t else start + width


async def read_horizon(conn: psycopg.AsyncConnection, caps: Capabilities) -> datetime | None:
    """The retention horizon for ``windows`` (None: nothing was ever dropped)."""
    cur = await conn.execute(
        "SELECT dropped_before FROM retention_horizon WHERE relation = 'windows'"
    )
    row = await cur.fetchone()
    horizon: datetime | None = row[0] if row else None
    if caps.hypertables:
        cur = await conn.execute(
            "SELECT max(now() - (j.config ->> 'drop_after')::interval)"
            " FROM timescaledb_information.jobs j"
            " WHERE j.proc_name = 'policy_retention' AND j.hypertable_name = 'windows'"
        )
        row = await cur.fetchone()
        if row and row[0] is not None:
            horizon = row[0] if horizon is None else max(horizon, row[0])
    return None if horizon is None else horizon + MARGIN


async def record_horizon(conn: psycopg.AsyncConnection, relation: str, cutoff: datetime) -> None:
    """Record that ``relation`` may have lost everything before ``cutoff`` (moves forward only)."""
    await conn.execute(
        "INSERT INTO retention_horizon AS h (relation, dropped_before) VALUES (%s, %s)"
        " ON CONFLICT (relation) DO UPDATE"
        " SET dropped_before = greatest(h.dropped_before, excluded.dropped_before)",
        (relation, cutoff),
    )
