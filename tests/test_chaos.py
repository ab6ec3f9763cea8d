"""Chaos: a fleet streams while bridges, cores, database connections and the broker fail in turn.

The database "server restart" is emulated by terminating every backend of the test database
repeatedly for a few seconds (connections refused mid-transaction, pool reconnects failing):
restarting the shared PostgreSQL cluster itself would disturb every other test using it. The
broker is a private mosquitto (``embedded_broker``), so restarting it is safe.

The broker restart runs against a single bridge with a plain persistent subscription: mosquitto
2.0 does not restore *shared* subscriptions after a restart, so with several bridges in a share
group the messages it had accepted but not yet delivered are dropped by the broker itself (see
docs/ingest.md, "Broker restarts and shared subscriptions").
"""

from __future__ import annotations

import time
import uuid

import psycopg
import pytest

from binhai._audit import wait_stored
from binhai._stack import Stack
from tests.fleet_bg import BackgroundFleet

pytestmark = [pytest.mark.db, pytest.mark.broker, pytest.mark.slow]

_TERMINATE = """
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()
"""


def _terminate_backends(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(_TERMINATE).fetchone()
    return int(row[0]) if row else 0


def test_every_batch_stored_exactly_once_through_kills_and_db_outages(
    tmp_path, embedded_broker, migrated_dsn, unique_tenant
):
    with Stack(
        tmp_path / "stack",
        dsn=migrated_dsn,
        mqtt_url=embedded_broker.url,
        cores=2,
        bridges=2,
        tenant=unique_tenant,
        share_group=f"g{uuid.uuid4().hex[:8]}",
    ) as st:
        fleet = BackgroundFleet(
            unique_tenant, embedded_broker.url, tmp_path / "d", devices=20, duration_s=60, speed=2
        )
        time.sleep(3)
        st.kill("bridge-0")  # SIGKILL: its unacked messages stay with the broker session
        time.sleep(2)
        st.start_proc("bridge-0")
        time.sleep(2)
        st.kill("core-1")  # SIGKILL: the bridges move its pending requests to core-0
        time.sleep(2)
        st.start_proc("core-1")
        time.sleep(2)
        assert _terminate_backends(migrated_dsn) > 0  # the cores' pooled connections
        time.sleep(2)
        deadline = time.monotonic() + 4  # "server restart": every reconnect is cut again
        while time.monotonic() < deadline:
            _terminate_backends(migrated_dsn)
            time.sleep(0.05)
        report = fleet.join()
        result = wait_stored(migrated_dsn, unique_tenant, report.seq_ranges, timeout=90)
        alive = {name: p.alive for name, p in st.procs.items()}
    assert all(alive.values()), alive
    assert result["lost"] == 0 and result["duplicates"] == 0, result
    assert result["batches_stored"] == report.batches_sent > 100


def test_every_batch_stored_exactly_once_through_broker_restarts(
    tmp_path, embedded_broker, migrated_dsn, unique_tenant
):
    with Stack(
        tmp_path / "stack", dsn=migrated_dsn, mqtt_url=embedded_broker.url, tenant=unique_tenant
    ) as st:
        fleet = BackgroundFleet(
            unique_tenant, embedded_broker.url, tmp_path / "d", devices=20, duration_s=40, speed=2
        )
        for _ in range(2):
            time.sleep(4)
            embedded_broker.restart()  # SIGTERM: mosquitto saves sessions and queues first
        report = fleet.join()
        result = wait_stored(migrated_dsn, unique_tenant, report.seq_ranges, timeout=90)
        alive = {name: p.alive for name, p in st.procs.items()}
    assert all(alive.values()), alive
    assert result["lost"] == 0 and result["duplicates"] == 0, result
    assert result["batches_stored"] == report.batches_sent > 50
