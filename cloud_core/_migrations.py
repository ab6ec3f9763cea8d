"""Versioned schema migrations (``binhai db migrate``).

Each migration is a version number, a name and a function of (connection, capabilities) that
issues DDL; applied versions are recorded in ``binhai_migrations``. Migrations run in one
transaction each, under an advisory lock so that several cores starting at once do not race.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import psycopg

from cloud_core._capabilities import Capabilities, migration_capabilities
from cloud_core._errors import MigrationError
from cloud_core._migrate_v2 import v2_storage
from cloud_core._migrate_v4 import v4_alerts_summaries
from cloud_core._migrate_v5 import v5_policies
from cloud_core._rollups import CAGGS, REFRESH_LOOKBACK, set_cagg_policies

log = logging.getLogger(__name__)

_LOCK_KEY = 0x62696E686169  # "binhai"

Step = Callable[[psycopg.AsyncConnection, Capabilities], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    apply: Step


async def _v1_core_tables(conn: psycopg.AsyncConnection, caps: Capabilities) -> None:
    await conn.execute(
        """
        CREATE TABLE devices (
            tenant      text NOT NULL,
            device_id   text NOT NULL,
            first_seen  timestamptz NOT NULL DEFAULT now(),
            last_seen   timestamptz NOT NULL DEFAULT now(),
            last_seq    bigint NOT NULL DEFAULT 0,
            online      boolean,
            presence_at timestamptz,
            PRIMARY KEY (tenant, device_id)
        );
        CREATE TABLE batches (
            tenant        text NOT NULL,
            device_id     text NOT NULL,
            seq           bigint NOT NULL,
            sent_at       timestamptz NOT NULL,
            received_at   timestamptz NOT NULL DEFAULT now(),
            n_windows     integer NOT NULL,
            n_samples     bigint NOT NULL,
            payload_bytes integer NOT NULL,
            PRIMARY KEY (tenant, device_id, seq)
        );
        CREATE TABLE windows (
            tenant       text NOT NULL,
            device_id    text NOT NULL,
            seq          bigint NOT NULL,
            idx          integer NOT NULL,
            sensor       text NOT NULL,
            t0           timestamptz NOT NULL,
            rate_hz      double precision NOT NULL,
            channels     integer NOT NULL,
            n_samples    integer NOT NULL,
            offload      smallint NOT NULL,
            novelty      real NOT NULL,
            algo_version integer,
            features     real[],
            raw_codec    smallint,
            raw          bytea
        );
        CREATE INDEX windows_device_time ON windows (tenant, device_id, sensor, t0 DESC);
        CREATE INDEX windows_batch ON windows (tenant, device_id, seq);
        CREATE TABLE evictions (
            tenant      text NOT NULL,
            device_id   text NOT NULL,
            first_seq   bigint NOT NULL,
            last_seq    bigint NOT NULL,
            reason      text NOT NULL,
            reported_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant, device_id, first_seq, last_seq)
        );
        CREATE TABLE dead_letters (
            id           bigserial PRIMARY KEY,
            received_at  timestamptz NOT NULL DEFAULT now(),
            topic        text NOT NULL,
            tenant       text,
            device_id    text,
            reason       text NOT NULL,
            payload      bytea NOT NULL,
            payload_size integer NOT NULL
        );
        CREATE INDEX dead_letters_time ON dead_letters (received_at);
        """
    )
    if caps.hypertables:
        await conn.execute(
            "SELECT create_hypertable('windows', 't0', chunk_time_interval => interval '1 day')"
        )


async def _v3_retention_horizon(conn: psycopg.AsyncConnection, caps: Capabilities) -> None:
    """The retention horizon no rollup refresh crosses; refresh policies bounded on both sides
    (v2 created them with a lookback equal to the retention and no end offset)."""
    await conn.execute(
        "CREATE TABLE retention_horizon ("
        " relation text PRIMARY KEY, dropped_before timestamptz NOT NULL)"
    )
    if caps.continuous_aggregates:  # the window rollups (the summaries' came with v4)
        await set_cagg_policies(conn, REFRESH_LOOKBACK, views=CAGGS[:2])


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "core tables", _v1_core_tables),
    Migration(2, "partitions, rollups, health, commands, conformance", v2_storage),
    Migration(3, "retention horizon, bounded rollup refresh policies", _v3_retention_horizon),
    Migration(4, "alerts, window flags, summaries, per-feature rollup counts", v4_alerts_summaries),
    Migration(5, "policies, summaries' novel counts, health's policy version", v5_policies),
)


async def current_version(conn: psycopg.AsyncConnection) -> int:
    cur = await conn.execute("SELECT to_regclass('binhai_migrations') IS NOT NULL")
    row = await cur.fetchone()
    if not row or not row[0]:
        return 0
    cur = await conn.execute("SELECT coalesce(max(version), 0) FROM binhai_migrations")
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def migrate(dsn: str, *, target: int | None = None) -> list[Migration]:
    """Apply pending migrations up to ``target`` (default: latest); return those applied."""
    try:
        conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    except psycopg.OperationalError as exc:
        raise MigrationError(f"cannot connect to the database: {exc}") from exc
    applied: list[Migration] = []
    async with conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS binhai_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            have = await current_version(conn)
            caps = await migration_capabilities(conn, have)
            log.info("database: %s", caps.describe())
            for mig in MIGRATIONS:
                if mig.version <= have or (target is not None and mig.version > target):
                    continue
                try:
                    async with conn.transaction():
                        await mig.apply(conn, caps)
                        await conn.execute(
                            "INSERT INTO binhai_migrations (version, name) VALUES (%s, %s)",
                            (mig.version, mig.name),
                        )
                except psycopg.Error as exc:
                    raise MigrationError(
                        f"migration {mig.version} ({mig.name}) failed: {exc}",
                        sqlstate=exc.sqlstate,
                    ) from exc
                log.info("applied migration %d: %s", mig.version, mig.name)
                applied.append(mig)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied
