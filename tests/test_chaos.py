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

import json
import os
import subprocess
import sys
import time
import uuid

import psycopg
import pytest

from binhai._audit import wait_stored
from binhai._chaos import Chaos, default_schedule, terminate_backends
from binhai._embedded import find_mosquitto
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
    print(json.dumps({"bridges": bridges, **result, "gaps_unexplained": st_after.gaps_unexplained}))
    assert sum("broker SIGKILLed" in what for _, what in done) == 3, done
    assert all(alive.values()), alive
    assert result["lost"] == 0 and result["duplicates"] == 0, (result, done)
    assert result["batches_stored"] + result["evicted"] == report.batches_sent > 100
    assert st_after.gaps_unexplained == 0, st_after


def test_binhai_up_chaos_reports_the_audit(tmp_path, migrated_dsn):
    """``binhai up --chaos``: the embedded stack (two cores, two bridges, mosquitto when
    installed) faulted while a fleet streams; exits 0 with nothing lost, duplicated or
    unexplained, and lists the faults it injected."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINHAI_")}
    proc = subprocess.run(
        [sys.executable, "-m", "binhai", "up", "--chaos", "--dsn", migrated_dsn, "--devices",
         "10", "--duration", "30", "--speed", "2", "--workdir", str(tmp_path / "up"), "--json"],
        capture_output=True, text=True, timeout=300, env=env, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["lost"] == out["duplicates"] == out["gaps_unexplained"] == 0, out
    assert out["batches_stored"] == out["batches_sent"] > 50
    crashes = sum("broker SIGKILLed" in f for f in out["faults"])
    assert crashes == 3, out["faults"]  # mosquitto: SIGKILL; the in-process broker: stopped
    assert find_mosquitto() is None or "mosquitto" in proc.stderr
    assert any("core-1 SIGKILLed" in f for f in out["faults"])
