"""Retention: drop time-series data older than a cutoff, the cheapest way each path allows.

Hypertables: ``drop_chunks`` (available in both TimescaleDB licenses). Native partitions: drop
whole day partitions, then delete the default partition's old rows. Rollup tables the core
maintains are small and keyed by bucket, so their old rows are deleted; continuous aggregates
use ``drop_chunks`` too. ``batches`` is kept: it is the dedup and seq-gap ledger.

Rollups outlive the raw windows they summarise: every pass records its cutoff as the retention
horizon (:mod:`cloud_core._horizon`), which no rollup refresh crosses, and with continuous
aggregates a cutoff inside the refresh policies' lookback shortens their lookback first
(TimescaleDB recomputes — that is, empties — the aggregates of a refreshed range whose chunks
were dropped).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import psycopg
from psycopg import sql

from cloud_core._capabilities import Capabilities
from cloud_core._horizon import MARGIN, record_horizon
from cloud_core._partitions import PARTITIONED, drop_before
from cloud_core._rollups import REFRESH_LOOKBACK, set_cagg_policies

__all__ = ["RetentionResult", "apply_retention", "parse_age", "safe_lookback"]

_AGE = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_age(text: str) -> timedelta:
    """``"30d"``, ``"12h"``, ``"2w"``, ``"90m"``, ``"45s"`` -> timedelta; ValueError otherwise."""
    m = _AGE.match(text)
    if not m or int(m[1]) <= 0:
        raise ValueError(f"bad age {text!r}: expected a positive number and s, m, h, d or w")
    return timedelta(**{_UNITS[m[2]]: int(m[1])})


@dataclass
class RetentionResult:
    """What retention removed (or would remove, on a dry run)."""

    cutoff: datetime
    dropped: list[str] = field(default_factory=list)
    rows_deleted: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "cutoff": self.cutoff.isoformat(),
            "dropped": self.dropped,
            "rows_deleted": self.rows_deleted,
            "dry_run": self.dry_run,
        }


async def _drop_chunks(
    conn: psycopg.AsyncConnection, rel: str, cutoff: datetime, dry_run: bool
) -> list[str]:
    fn = "show_chunks" if dry_run else "drop_chunks"
    cur = await conn.execute(
        sql.SQL("SELECT {}(%s, older_than => %s::timestamptz)::text").format(sql.Identifier(fn)),
        (rel, cutoff),
    )
    return [r[0] for r in await cur.fetchall()]


async def apply_retention(
    conn: psycopg.AsyncConnection,
    caps: Capabilities,
    *,
    older_than: timedelta,
    rollups_older_than: timedelta | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
) -> RetentionResult:
    """Remove windows and health reports older than ``older_than``, and rollups older than
    ``rollups_older_than`` (kept when None).

    ``conn`` should be in autocommit mode; each table is handled in its own transaction.
    """
    now = now or datetime.now(timezone.utc)
    cutoff = now - older_than
    out = RetentionResult(cutoff, dry_run=dry_run)
    if not dry_run:
        # The horizon first: a refresh running meanwhile must already stay clear of the range.
        for table in PARTITIONED:
            await record_horizon(conn, table, cutoff)
        if caps.continuous_aggregates:
            lookback = safe_lookback(older_than, await _policy_lookback(conn))
            if lookback is not None:
                await set_cagg_policies(conn, lookback)
    for table in PARTITIONED:
        if caps.hypertables:
            out.dropped += await _drop_chunks(conn, table, cutoff, dry_run)
        else:
            names, rows = await drop_before(conn, table, cutoff, dry_run=dry_run)
            out.dropped += names
            out.rows_deleted[f"{table}_default"] = rows
    if rollups_older_than is not None:
        rcut = now - rollups_older_than
        for view in ("rollup_1m", "rollup_1h"):
            if caps.continuous_aggregates:
                out.dropped += await _drop_chunks(conn, view, rcut, dry_run)
                continue
            verb = "SELECT count(*)" if dry_run else "DELETE"
            verb += " FROM {} WHERE bucket < %s"
            cur = await conn.execute(sql.SQL(verb).format(sql.Identifier(view)), (rcut,))
            row = await cur.fetchone() if dry_run else None
            out.rows_deleted[view] = int(row[0]) if row else max(cur.rowcount, 0)
    if not dry_run:
        await conn.execute("DELETE FROM rollup_dirty WHERE bucket < %s", (cutoff,))
    return out


def safe_lookback(older_than: timedelta, lookback: timedelta) -> timedelta | None:
    """The refresh policies' new lookback for a retention of ``older_than``, or None when
    ``lookback`` already stays clear of the dropped range (with the horizon's margin twice)."""
    if lookback + 2 * MARGIN <= older_than:
        return None
    return max(older_than - 2 * MARGIN, timedelta(0))


async def _policy_lookback(conn: psycopg.AsyncConnection) -> timedelta:
    """The longest start_offset of the rollups' refresh policies (the default when none)."""
    cur = await conn.execute(
        "SELECT max((j.config ->> 'start_offset')::interval)"
        " FROM timescaledb_information.jobs j"
        " WHERE j.proc_name = 'policy_refresh_continuous_aggregate'"
        "   AND j.hypertable_name IN (SELECT materialization_hypertable_name"
        "     FROM timescaledb_information.continuous_aggregates"
        "     WHERE view_name IN ('rollup_1m', 'rollup_1h'))"
    )
    row = await cur.fetchone()
    return row[0] if row and row[0] is not None else REFRESH_LOOKBACK
