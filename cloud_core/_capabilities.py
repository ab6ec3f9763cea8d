"""What the storage can do: TimescaleDB and which of its features, or plain PostgreSQL.

Two questions, two functions, neither of which changes the database:

- :func:`server_capabilities`: what the *server* offers (the extension installed, its license).
  Only ``binhai db migrate`` asks this, when it builds a schema from scratch (it creates the
  extension first when the server has it available).
- :func:`detect`: what the *migrated schema* uses: ``windows`` is a hypertable or a natively
  partitioned table, the rollups are continuous aggregates or tables. Everything that reads or
  maintains the schema (the core, maintenance, retention, later migrations) asks this, so a
  database migrated without TimescaleDB keeps working when someone installs the extension later
  (and one migrated with it keeps its hypertables whatever the session's settings say).

The Apache-2 edition of TimescaleDB has hypertables and ``time_bucket`` but refuses continuous
aggregates, compression and retention policies, so each capability stands on its own. Catalog
reads are schema-qualified (``pg_catalog``) so that no ``search_path`` can shadow them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg

log = logging.getLogger(__name__)

__all__ = ["Capabilities", "detect", "migration_capabilities", "server_capabilities"]


@dataclass(frozen=True, slots=True)
class Capabilities:
    """``hypertables`` and ``continuous_aggregates`` are what the schema uses (from
    :func:`detect`) or what the server allows (from :func:`server_capabilities`)."""

    server_version: int
    timescaledb: str | None = None
    license: str | None = None
    hypertables: bool = False
    continuous_aggregates: bool = False

    @property
    def compression(self) -> bool:
        return self.timescaledb is not None and self.license == "timescale"

    @property
    def retention_policies(self) -> bool:
        return self.compression

    def describe(self) -> str:
        pg = f"PostgreSQL {self.server_version // 10000}"
        if self.timescaledb is None:
            return f"{pg} (no timescaledb: native fallbacks)"
        parts = [
            "hypertables" if self.hypertables else "native partitions",
            "continuous aggregates" if self.continuous_aggregates else "rollup tables",
        ]
        return f"{pg} + timescaledb {self.timescaledb} ({self.license} license): " + ", ".join(
            parts
        )


async def _installed(conn: psycopg.AsyncConnection) -> tuple[str | None, str | None]:
    """(extension version, license) when timescaledb is installed in this database."""
    cur = await conn.execute(
        "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'timescaledb'"
    )
    row = await cur.fetchone()
    if row is None:
        return None, None
    cur = await conn.execute("SELECT pg_catalog.current_setting('timescaledb.license', true)")
    lic = await cur.fetchone()
    return str(row[0]), (lic[0] if lic else None)


async def server_capabilities(
    conn: psycopg.AsyncConnection, *, create: bool = False
) -> Capabilities:
    """What the server offers. With ``create`` (``binhai db migrate`` on a fresh schema, inside
    its lock) the extension is created first when it is available but not yet created."""
    version = conn.info.server_version
    if create:
        cur = await conn.execute(
            "SELECT installed_version FROM pg_catalog.pg_available_extensions"
            " WHERE name = 'timescaledb'"
        )
        row = await cur.fetchone()
        if row is not None and row[0] is None:
            try:
                async with conn.transaction():
                    await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            except psycopg.Error as exc:
                log.warning("timescaledb is packaged but cannot be created (%s); plain PG", exc)
    ext, lic = await _installed(conn)
    if ext is None:
        return Capabilities(version)
    return Capabilities(version, ext, lic, True, lic == "timescale")


_SCHEMA = """
SELECT
    (SELECT n.nspname::text FROM pg_catalog.pg_class c
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = pg_catalog.to_regclass('windows')),
    EXISTS (SELECT 1 FROM pg_catalog.pg_partitioned_table p
            WHERE p.partrelid = pg_catalog.to_regclass('windows')),
    (SELECT c.relkind::text FROM pg_catalog.pg_class c
     WHERE c.oid = pg_catalog.to_regclass('rollup_1m'))
"""


async def detect(conn: psycopg.AsyncConnection) -> Capabilities:
    """What the migrated schema uses (read-only; see the module docstring)."""
    version = conn.info.server_version
    ext, lic = await _installed(conn)
    cur = await conn.execute(_SCHEMA)
    row = await cur.fetchone()
    schema, partitioned, rollup_kind = row if row else (None, False, None)
    hyper = False
    if ext is not None and schema is not None and not partitioned:
        cur = await conn.execute(
            "SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables"
            " WHERE hypertable_schema = %s AND hypertable_name = 'windows')",
            (schema,),
        )
        found = await cur.fetchone()
        hyper = bool(found and found[0])
    # A continuous aggregate is a view over its materialization hypertable; the fallback
    # rollups are tables.
    caggs = hyper and rollup_kind == "v"
    return Capabilities(version, ext if hyper else None, lic, hyper, caggs)


async def migration_capabilities(conn: psycopg.AsyncConnection, version: int) -> Capabilities:
    """What migrations from schema ``version`` may build on: the server's offer for a fresh
    schema (creating the extension when available); else the schema's own choices, with the
    server's license deciding only what the schema has not decided yet (rollups created by a
    later migration become continuous aggregates only on hypertables)."""
    if version == 0:
        return await server_capabilities(conn, create=True)
    schema = await detect(conn)
    server = await server_capabilities(conn)
    cur = await conn.execute("SELECT pg_catalog.to_regclass('rollup_1m') IS NOT NULL")
    row = await cur.fetchone()
    rollups_exist = bool(row and row[0])
    caggs = (
        schema.continuous_aggregates
        if rollups_exist
        else schema.hypertables and server.continuous_aggregates
    )
    return Capabilities(
        schema.server_version,
        server.timescaledb if schema.hypertables else None,
        server.license,
        schema.hypertables,
        caggs,
    )
