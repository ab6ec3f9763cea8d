"""Native range partitions by day, for PostgreSQL without TimescaleDB hypertables.

A partitioned table ``T`` has one partition per UTC day, named ``T_pYYYYMMDD`` and covering
``[day, day + 1)``, plus a default partition ``T_default`` that takes any row no day partition
covers (data far in the past or the future), so an insert never fails for want of a partition.
:func:`ensure_days` creates the partitions for a range of days ahead of time, moving rows that
the default partition already holds for a day into the new partition first.
:func:`drop_before` implements retention: it drops whole day partitions that lie entirely before
the cutoff and deletes the default partition's rows older than the cutoff.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

__all__ = [
    "PARTITIONED",
    "DayPartition",
    "drop_before",
    "ensure_days",
    "list_days",
    "partition_name",
]

#: Partitioned tables and their partition key column.
PARTITIONED: dict[str, str] = {
    "windows": "t0",
    "device_health": "received_at",
    "summaries": "t0",
}

_NAME = re.compile(r"^(?P<table>[a-z_]+)_p(?P<day>\d{8})$")


@dataclass(frozen=True, slots=True)
class DayPartition:
    """One day partition of ``table``."""

    table: str
    name: str
    day: date

    @property
    def end(self) -> datetime:
        """Exclusive upper bound of the partition (UTC midnight after ``day``)."""
        return datetime.combine(self.day + timedelta(days=1), datetime.min.time(), timezone.utc)


def partition_name(table: str, day: date) -> str:
    return f"{table}_p{day:%Y%m%d}"


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), timezone.utc)


async def list_days(conn: psycopg.AsyncConnection, table: str) -> list[DayPartition]:
    """The day partitions attached to ``table``, oldest first."""
    cur = await conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = to_regclass(%s)",
        (table,),
    )
    out = []
    for (name,) in await cur.fetchall():
        m = _NAME.match(name)
        if m and m["table"] == table:
            out.append(DayPartition(table, name, datetime.strptime(m["day"], "%Y%m%d").date()))
    return sorted(out, key=lambda p: p.day)


async def create_default(conn: psycopg.AsyncConnection, table: str) -> None:
    """Create ``table``'s default partition (idempotent)."""
    await conn.execute(
        sql.SQL("CREATE TABLE IF NOT EXISTS {} PARTITION OF {} DEFAULT").format(
            sql.Identifier(f"{table}_default"), sql.Identifier(table)
        )
    )


async def ensure_days(conn: psycopg.AsyncConnection, table: str, days: Iterable[date]) -> list[str]:
    """Create the day partitions of ``table`` for ``days`` that do not exist yet.

    Rows of those days already in the default partition are moved into the new partition
    (inside the caller's transaction, or each in its own when ``conn`` is in autocommit), under
    an advisory lock per table so that concurrent callers never collide. Returns the names of
    the partitions created.
    """
    key = PARTITIONED[table]
    have = {p.day for p in await list_days(conn, table)}
    created: list[str] = []
    for day in sorted(set(days)):
        if day in have:
            continue
        name = partition_name(table, day)
        lo, hi = _midnight(day), _midnight(day + timedelta(days=1))
        ident, parent = sql.Identifier(name), sql.Identifier(table)
        default, col = sql.Identifier(f"{table}_default"), sql.Identifier(key)
        async with conn.transaction():
            # several cores may run maintenance at once: one creates, the others see it
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (table,))
            cur = await conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,))
            exists = await cur.fetchone()
            if exists and exists[0]:
                continue
            await conn.execute(
                sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS)").format(ident, parent)
            )
            await conn.execute(
                sql.SQL(
                    "WITH moved AS (DELETE FROM {d} WHERE {c} >= %s AND {c} < %s RETURNING *)"
                    " INSERT INTO {p} SELECT * FROM moved"
                ).format(d=default, c=col, p=ident),
                (lo, hi),
            )
            await conn.execute(
                sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES FROM ({}) TO ({})").format(
                    parent, ident, sql.Literal(lo), sql.Literal(hi)
                )
            )
        created.append(name)
        log.info("created partition %s", name)
    return created


async def drop_before(
    conn: psycopg.AsyncConnection, table: str, cutoff: datetime, *, dry_run: bool = False
) -> tuple[list[str], int]:
    """Retention: drop day partitions of ``table`` that end at or before ``cutoff``.

    Also deletes rows older than ``cutoff`` from the default partition. Returns the names of
    the partitions dropped and the number of default-partition rows deleted (or that would be,
    with ``dry_run``).
    """
    dropped = [p.name for p in await list_days(conn, table) if p.end <= cutoff]
    col, default = sql.Identifier(PARTITIONED[table]), sql.Identifier(f"{table}_default")
    if dry_run:
        cur = await conn.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE {} < %s").format(default, col), (cutoff,)
        )
        row = await cur.fetchone()
        return dropped, int(row[0]) if row else 0
    async with conn.transaction():
        for name in dropped:
            await conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))
            log.info("retention dropped partition %s", name)
        cur = await conn.execute(
            sql.SQL("DELETE FROM {} WHERE {} < %s").format(default, col), (cutoff,)
        )
        deleted = cur.rowcount
    return dropped, max(deleted, 0)
