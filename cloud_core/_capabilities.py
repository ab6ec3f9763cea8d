"""What the connected database can do: TimescaleDB and which of its features, or plain PostgreSQL.

The Apache-2 edition of TimescaleDB has hypertables and ``time_bucket`` but refuses continuous
aggregates, compression and retention policies, so each capability is probed on its own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Capabilities:
    server_version: int
    timescaledb: str | None = None
    license: str | None = None

    @property
    def hypertables(self) -> bool:
        return self.timescaledb is not None

    @property
    def continuous_aggregates(self) -> bool:
        return self.timescaledb is not None and self.license == "timescale"

    @property
    def compression(self) -> bool:
        return self.continuous_aggregates

    @property
    def retention_policies(self) -> bool:
        return self.continuous_aggregates

    def describe(self) -> str:
        if self.timescaledb is None:
            return f"PostgreSQL {self.server_version // 10000} (no timescaledb: native fallbacks)"
        return (
            f"PostgreSQL {self.server_version // 10000} + timescaledb {self.timescaledb} "
            f"({self.license} license)"
        )


async def detect(conn: psycopg.AsyncConnection) -> Capabilities:
    """Probe ``conn``; creates the timescaledb extension when it is available but not created."""
    version = conn.info.server_version
    cur = await conn.execute(
        "SELECT default_version, installed_version FROM pg_available_extensions"
        " WHERE name = 'timescaledb'"
    )
    row = await cur.fetchone()
    if row is None:
        return Capabilities(version)
    if row[1] is None:
        try:
            async with conn.transaction():
                await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        except psycopg.Error as exc:
            log.warning("timescaledb is packaged but cannot be created (%s); using plain PG", exc)
            return Capabilities(version)
    cur = await conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
    ext = await cur.fetchone()
    cur = await conn.execute("SELECT current_setting('timescaledb.license', true)")
    lic = await cur.fetchone()
    return Capabilities(version, ext[0] if ext else None, lic[0] if lic else None)
