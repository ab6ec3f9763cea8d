"""``binhai up --serve`` / ``binhai down``: a durable local stack as real processes."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from urllib.request import urlopen

import psycopg
import pytest

import protos
from binhai._rawpub import publish_qos1
from binhai._statefile import read_state, running_state
from tests.fix_stack import build_batch
from tests.served import Served, served_workdir

pytestmark = [pytest.mark.slow, pytest.mark.db, pytest.mark.broker]


def stored_batches(dsn: str, tenant: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM batches WHERE tenant = %s", (tenant,)).fetchone()
    assert row is not None
    return int(row[0])


def publish_and_wait(dsn: str, mqtt_url: str, tenant: str, seq: int) -> None:
    url = protos.MqttUrl.parse(mqtt_url)
    batch = build_batch(tenant, "board-1", seq)
    topic = protos.topic_for(tenant, "board-1", "up")
    publish_qos1(url.host, url.port, [(topic, batch.SerializeToString())], v5=url.v5)
    deadline = time.monotonic() + 30
    while stored_batches(dsn, tenant) < seq:
        assert time.monotonic() < deadline, "batch not stored within 30 s"
        time.sleep(0.2)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().split(") ", 1)[1][0] != "Z"


def test_a_crashed_stack_is_cleaned_up_by_the_next_start(tmp_path: Path) -> None:
    tenant = "t-serve-crash"
    with served_workdir(tmp_path) as workdir:
        served = Served(workdir)
        try:
            state = served.start("--no-auth")
            publish_and_wait(state.dsn, state.mqtt_url, tenant, 1)
            assert served.stop(signal.SIGKILL) == -signal.SIGKILL
            orphans = [state.pids["core-0"], state.pids["bridge-0"]]
            assert all(alive(p) for p in orphans)  # the crash left its services running
            assert served.cli("down").returncode == 1  # no stack runs: the lock is free

            again = served.start("--no-auth")
            assert not any(alive(p) for p in orphans)
            assert again.ports["core-0"] == state.ports["core-0"]  # freed for the new core
            assert stored_batches(again.dsn, tenant) == 1
            publish_and_wait(again.dsn, again.mqtt_url, tenant, 2)
            assert served.stop() == 0
        finally:
            served.stop(signal.SIGKILL)


def test_serve_keeps_data_across_restarts_and_down_stops_it(tmp_path: Path) -> None:
    tenant = "t-serve-restart"
    with served_workdir(tmp_path) as workdir:
        served = Served(workdir)
        try:
            state = served.start("--no-auth")
            assert state.dsn and state.core_addr and state.mqtt_url
            # every endpoint printed is live: metrics answer, the example is on disk
            for url in state.metrics.values():
                with urlopen(url, timeout=5) as resp:
                    assert b"# TYPE" in resp.read()
            assert "from device_sdk import Device" in (workdir / "example_device.py").read_text()
            assert state.mqtt_url in (workdir / "example_device.py").read_text()

            publish_and_wait(state.dsn, state.mqtt_url, tenant, 1)

            # a second stack on the same work directory refuses, naming the running one
            second = served.cli("up", "--serve", "--workdir", str(workdir))
            assert second.returncode == 1
            assert "already running" in second.stderr and str(state.pid) in second.stderr

            # other commands find the stack through BINHAI_WORKDIR alone
            stats = served.cli_json("db", "stats", "--tenant", tenant)
            assert stats["batches"] == 1

            down = served.cli_json("down")
            assert down["stopped"] is True and down["pid"] == state.pid
            assert served.wait() == 0
            assert read_state(workdir) is None  # state file removed on a clean stop
            assert served.cli("down").returncode == 1  # nothing left to stop

            again = served.start("--no-auth")
            assert again.ports["broker"] == state.ports["broker"]  # devices reconnect as before
            assert stored_batches(again.dsn, tenant) == 1  # the data survived
            publish_and_wait(again.dsn, again.mqtt_url, tenant, 2)
            assert served.stop(signal.SIGINT) == 0  # Ctrl-C stops it cleanly too
        finally:
            served.stop(signal.SIGKILL)
        assert "binhai stack" not in served.output  # --json: the state, not the listing


def test_serve_on_an_existing_database(tmp_path: Path, private_dsn: str) -> None:
    served = Served(tmp_path / "stack")
    try:
        state = served.start("--dsn", private_dsn)
        assert state.dsn == private_dsn  # migrated by the start, found by other commands
        assert served.cli_json("db", "stats")["devices"] == 0
        assert not (tmp_path / "stack" / "postgres").exists()
        # a core that dies is restarted, and the state file follows it
        os.kill(state.pids["core-0"], signal.SIGKILL)
        deadline = time.monotonic() + 60
        while (now := running_state(tmp_path / "stack")) is None or now.pids == state.pids:
            assert time.monotonic() < deadline, served.output
            time.sleep(0.2)
        assert now.core_addr == state.core_addr  # the same port again
        assert served.cli_json("query", "fleet")["devices_total"] in (0, "0")
        assert served.stop() == 0
    finally:
        served.stop(signal.SIGKILL)


def test_bad_options_are_one_line_errors(tmp_path: Path) -> None:
    served = Served(tmp_path / "stack")
    for args in (("--devices", "-1"), ("--chaos",)):
        done = served.cli("up", "--serve", "--workdir", str(tmp_path / "stack"), *args)
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "stack" / "stack.json").exists()
