"""Migration 4: alerts, COMPACT windows and Summaries, per-feature rollup counts.

- ``windows.flags``: the device's screening flags of every window (NULL for windows stored
  before v4); a COMPACT window is stored in ``windows`` like a FEATURES one, its feature subset
  expanded to the full layout with NaN where a feature was not sent.
- ``batches.n_summarized``: the windows the batch's summaries stand for.
- ``summaries``: one row per Summary (day partitions or a hypertable, like ``windows``).
- ``alerts``: one row per episode of anomalous windows per device and sensor.
- Rollups gain ``{f}_{c}_n`` (the windows whose value of a feature is known: COMPACT windows and
  summaries carry subsets), and ``summaries`` gets its own rollups (``summary_1m``/``1h``). Rollup
  tables gain the columns, filled from ``n_{c}`` (before v4 a window had all its features or
  none). Continuous aggregates cannot change their query: they are dropped and created again,
  and the whole time range of ``windows`` is marked dirty so that the core's next refresh
  materialises it (buckets whose windows retention already dropped are not rebuilt).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import psycopg

from cloud_core._capabilities import Capabilities
from cloud_core._migrate_v2 import DAYS_AHEAD
from cloud_core._partitions import create_default, ensure_days
from cloud_core._retention import policy_lookback
from cloud_core._rollups import (
    CAGGS,
    ROLLUP_CHANNELS,
    ROLLUP_FEATURES,
    SUMMARIES,
    WINDOWS,
    create_source_rollups,
    set_cagg_policies,
)

__all__ = ["v4_alerts_summaries"]

_SUMMARY_COLUMNS = """
    tenant       text NOT NULL,
    device_id    text NOT NULL,
    seq          bigint NOT NULL,
    idx          integer NOT NULL,
    sensor       text NOT NULL,
    t0           timestamptz NOT NULL,
    t1           timestamptz NOT NULL,
    windows      bigint NOT NULL,
    sent         bigint NOT NULL,
    channels     integer NOT NULL,
    rate_hz      double precision NOT NULL,
    n_samples    integer NOT NULL,
    novelty_max  real NOT NULL,
    source       smallint NOT NULL DEFAULT 1,
    algo_version integer NOT NULL,
    mean         real[] NOT NULL,
    lo           real[] NOT NULL,
    hi           real[] NOT NULL
"""

_ALERTS = """
CREATE TABLE alerts (
    id          bigserial PRIMARY KEY,
    tenant      text NOT NULL,
    device_id   text NOT NULL,
    sensor      text NOT NULL,
    kind        text NOT NULL,
    kinds       jsonb NOT NULL,
    start_ns    bigint NOT NULL,
    end_ns      bigint NOT NULL,
    raised_at   timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    score       double precision NOT NULL,
    windows     bigint NOT NULL,
    raw_windows bigint NOT NULL
);
CREATE INDEX alerts_stream_end ON alerts (tenant, device_id, sensor, end_ns);
CREATE INDEX alerts_device_start ON alerts (tenant, device_id, start_ns DESC);
CREATE INDEX alerts_tenant_start ON alerts (tenant, start_ns DESC);
"""

#: Retention policies of the v4 relations where TimescaleDB allows them.
RETENTION_V4: dict[str, str] = {"summaries": "30 days", "summary_1m": "90 days"}


def _days_around_today() -> list[date]:
    today = datetime.now(timezone.utc).date()
    return [today + timedelta(days=d) for d in range(-1, DAYS_AHEAD + 1)]


async def _summaries(conn: psycopg.AsyncConnection, caps: Capabilities) -> None:
    if caps.hypertables:
        await conn.execute(f"CREATE TABLE summaries ({_SUMMARY_COLUMNS})")
        await conn.execute(
            "SELECT create_hypertable('summaries', 't0', chunk_time_interval => interval '1 day')"
        )
    else:
        await conn.execute(f"CREATE TABLE summaries ({_SUMMARY_COLUMNS}) PARTITION BY RANGE (t0)")
        await create_default(conn, "summaries")
        await ensure_days(conn, "summaries", _days_around_today())
    await conn.execute(
        "CREATE INDEX summaries_device_time ON summaries (tenant, device_id, sensor, t0 DESC);"
        " CREATE INDEX summaries_batch ON summaries (tenant, device_id, seq)"
    )


async def _rollup_counts(conn: psycopg.AsyncConnection, caps: Capabilities) -> None:
    if not caps.continuous_aggregates:
        for table in (WINDOWS.minute, WINDOWS.hour):
            cols = [(f, c) for c in range(ROLLUP_CHANNELS) for f in ROLLUP_FEATURES]
            await conn.execute(
                f"ALTER TABLE {table} " + ", ".join(f"ADD COLUMN {f}_{c}_n bigint" for f, c in cols)
            )
            await conn.execute(
                f"UPDATE {table} SET " + ", ".join(f"{f}_{c}_n = n_{c}" for f, c in cols)
            )
        await create_source_rollups(conn, caps, SUMMARIES)
        return
    lookback = await policy_lookback(conn)
    await conn.execute(f"DROP MATERIALIZED VIEW {WINDOWS.hour}")
    await conn.execute(f"DROP MATERIALIZED VIEW {WINDOWS.minute}")
    await create_source_rollups(conn, caps, WINDOWS)
    await create_source_rollups(conn, caps, SUMMARIES)
    await set_cagg_policies(conn, lookback, views=CAGGS)
    # the core's next refresh materialises everything ``windows`` still holds
    await conn.execute(
        "INSERT INTO rollup_dirty (tenant, device_id, sensor, bucket)"
        " SELECT '', '', '', date_bin(interval '1 minute', t, timestamptz 'epoch')"
        " FROM (SELECT min(t0) AS t FROM windows UNION ALL SELECT max(t0) FROM windows) AS r"
        " WHERE t IS NOT NULL"
    )


async def v4_alerts_summaries(conn: psycopg.AsyncConnection, caps: Capabilities) -> None:
    """Apply migration 4 on ``conn`` (inside the migration's transaction)."""
    await conn.execute(
        "ALTER TABLE windows ADD COLUMN flags bigint;"
        " ALTER TABLE batches ADD COLUMN n_summarized bigint NOT NULL DEFAULT 0"
    )
    await _summaries(conn, caps)
    await conn.execute(_ALERTS)
    await _rollup_counts(conn, caps)
    if caps.retention_policies:
        for rel, keep in RETENTION_V4.items():
            if rel.startswith("summary_") and not caps.continuous_aggregates:
                continue
            await conn.execute("SELECT add_retention_policy(%s, %s::interval)", (rel, keep))
        if caps.continuous_aggregates:  # dropped with the old aggregate
            await conn.execute("SELECT add_retention_policy('rollup_1m', interval '90 days')")
