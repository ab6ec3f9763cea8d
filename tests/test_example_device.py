"""The device example ``up --serve`` prints: run as a user would, it streams, answers a command
from ``binhai device command`` with an ACK, and stops on Ctrl-C with everything stored."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from binhai._statefile import StackState
from binhai.cli._serve import describe
from tests.served import Served

pytestmark = [pytest.mark.slow, pytest.mark.db, pytest.mark.broker]


def batches(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM batches WHERE tenant = 'mine' AND device_id = 'my-board'"
        ).fetchone()
    return int(row[0]) if row else 0


def test_the_printed_example_streams_and_answers_a_command(
    served_fleet: tuple[Served, StackState], tmp_path: Path
) -> None:
    served, state = served_fleet
    script = Path(state.workdir) / "example_device.py"
    assert len(script.read_text().splitlines()) <= 15
    listing = describe(state, script.read_text())  # what `up --serve` prints without --json
    for line in script.read_text().splitlines():
        assert f"    {line}" in listing.splitlines() or not line
    for endpoint in (state.mqtt_url, state.core_addr, state.dsn, state.dashboard):
        assert endpoint in listing
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while batches(state.dsn) == 0:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the example stored nothing in 60 s"
            time.sleep(0.5)
        answer = served.cli_json("device", "command", "my-board", "flush", "--timeout", "45")
        assert answer["status"] == "ack" and answer["tenant"] == "mine", answer
        listed = served.cli_json("device", "list", "--tenant", "mine")["devices"]
        assert listed[0]["device_id"] == "my-board" and listed[0]["online"] is True
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err
    assert out.splitlines()[0] == "streaming as mine/my-board; Ctrl-C stops"
    assert out.splitlines()[-1] == "stored: True"
    # gone now: its last-will status says offline, so a command waits for it in the broker
    deadline = time.monotonic() + 30
    while True:
        queued = served.cli("device", "command", "my-board", "reset-counters")
        if queued.stdout.startswith("queued, device offline"):
            break
        assert time.monotonic() < deadline, queued.stdout + queued.stderr
        time.sleep(1)
