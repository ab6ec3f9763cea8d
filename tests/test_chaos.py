"""Chaos: a fleet streams while bridges, cores, database connections and the broker fail in turn.

The database "server restart" is emulated by terminating every backend of the test database
repeatedly for a few seconds (connections refused mid-transaction, pool reconnects failing):
restarting the shared PostgreSQL cluster itself would disturb every other test using it. The
broker is a private mosquitto (``embedded_broker``), so restarting it is safe.

The graceful broker restart runs against a single bridge with a plain persistent subscription.
The broker *crash* (SIGKILL, repeated, with a bridge crash, a core crash and a database outage
in between) runs with one bridge and with two in a share group: mosquitto then loses whatever it
accepted since its last autosave, and does not restore shared subscriptions, so it PUBACKs
device batches that reach no one — the devices keep them until the cloud confirms them and send
them again (docs/ingest.md, "End-to-end acknowledgement").
"""

from __future__ import annotations

import time
import uuid

import psycopg
import pytest

from binhai._audit import wait_stored
from binhai._chaos import Chaos, default_schedule, terminate_backends
from binhai._stack import Stack
from cloud_core import stats
from tests.fleet_bg import BackgroundFleet

pytestmark = [pytest.mark.db, pytest.mark.broker, pytest.mark.slow]


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
        assert terminate_backends(migrated_dsn) > 0  # the cores' pooled connections
        time.sleep(2)
        deadline = time.monotonic() + 4  # "server restart": every reconnect is cut again
        while time.monotonic() < deadline:
            terminate_backends(migrated_dsn)
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


@pytest.mark.parametrize("bridges", [1, 2])
def test_every_batch_stored_exactly_once_through_broker_crashes(
    tmp_path, embedded_broker, migrated_dsn, unique_tenant, bridges, run
):
    if embedded_broker.kind != "mosquitto":
        pytest.skip("the in-process broker cannot crash apart from the test process")
    duration = 40.0
    with Stack(
        tmp_path / "stack",
        dsn=migrated_dsn,
        mqtt_url=embedded_broker.url,
        cores=2,
        bridges=bridges,
        tenant=unique_tenant,
        share_group=f"g{uuid.uuid4().hex[:8]}" if bridges > 1 else None,
    ) as st:
        fleet = BackgroundFleet(
            unique_tenant,
            embedded_broker.url,
            tmp_path / "d",
            devices=20,
            duration_s=duration * 2,
            speed=2,
            reconnect_spread_s=2.0,
        )
        chaos = Chaos(st, default_schedule(st, duration, broker=True), broker=embedded_broker)
        done = chaos.start().join(duration + 60)
        report = fleet.join()
        result = wait_stored(migrated_dsn, unique_tenant, report.seq_ranges, timeout=90)
        alive = {name: p.alive for name, p in st.procs.items()}

    async def gaps():
        async with await psycopg.AsyncConnection.connect(migrated_dsn) as conn:
            return await stats(conn, unique_tenant)

    st_after = run(gaps())
    assert sum("broker SIGKILLed" in what for _, what in done) == 3, done
    assert all(alive.values()), alive
    assert result["lost"] == 0 and result["duplicates"] == 0, (result, done)
    assert result["batches_stored"] + result["evicted"] == report.batches_sent > 100
    assert st_after.gaps_unexplained == 0, st_after
