"""``--log-format json``: every line a service writes to stderr is one JSON object."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from binhai._statefile import StackState
from binhai.cli._logging import JsonFormatter
from tests.served import ROOT, Served

KEYS = {"ts", "level", "logger", "msg"}


def json_lines(text: str) -> list[dict[str, Any]]:
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines, "no output"
    records = []
    for line in lines:
        record = json.loads(line)  # fails the test on any line that is not JSON
        assert isinstance(record, dict)
        records.append(record)
    return records


def test_formatter_writes_fields_extras_and_the_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("binhai.x").makeRecord(
            "binhai.x", logging.WARNING, __file__, 1, "seq %d of %s", (7, "dev-1"),
            sys.exc_info(), extra={"device_id": "dev-1", "path": Path("/tmp/x")},
        )  # fmt: skip
    out = json.loads(JsonFormatter().format(record))
    assert out["level"] == "warning" and out["logger"] == "binhai.x"
    assert out["msg"] == "seq 7 of dev-1"
    assert out["device_id"] == "dev-1" and out["path"] == "/tmp/x"
    assert out["ts"].endswith("Z") and "T" in out["ts"]
    assert "ValueError: boom" in out["exc"]


def run_service(args: list[str], ready: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINHAI_")}
    env["BINHAI_WORKDIR"] = "/nonexistent/binhai-logging"
    proc = subprocess.Popen(
        [sys.executable, "-m", "binhai", "--log-format", "json", "-v", *args,
         "--ready-file", str(ready)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return err


@pytest.mark.db
def test_core_serve_logs_json_lines(migrated_dsn: str, tmp_path: Path) -> None:
    err = run_service(
        ["core", "serve", "--dsn", migrated_dsn, "--listen", "127.0.0.1:0"], tmp_path / "ready"
    )
    records = json_lines(err)
    assert all(r.keys() >= KEYS for r in records)
    serving = [
        r
        for r in records
        if r["logger"] == "binhai.cli" and r["msg"].startswith("core serving on port")
    ]
    assert serving and isinstance(serving[0]["port"], int) and serving[0]["level"] == "info"
    assert any(r["logger"].startswith("cloud_core") for r in records)
    assert any(r["msg"].startswith("core drained") for r in records)


@pytest.mark.broker
def test_bridge_run_logs_json_lines(mqtt_url: str, tmp_path: Path, unique_tenant: str) -> None:
    err = run_service(
        ["bridge", "run", "--mqtt-url", mqtt_url, "--core-addr", "127.0.0.1:1",
         "--tenant", unique_tenant, "--share-group", ""],
        tmp_path / "ready",
    )  # fmt: skip
    records = json_lines(err)
    assert any(r["msg"] == "bridge subscribed" for r in records)
    assert any(r["logger"].startswith("broker_bridge") for r in records)


def test_an_error_is_one_json_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "binhai", "--log-format", "json", "db", "stats",
         "--dsn", "postgresql://127.0.0.1:1/nope?connect_timeout=2"],
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    (record,) = json_lines(done.stderr)
    assert record["level"] == "error" and "127.0.0.1" in record["msg"]


@pytest.mark.slow
def test_up_serve_and_its_services_log_json(served_fleet: tuple[Served, StackState]) -> None:
    served, state = served_fleet
    records = json_lines(served.output)  # the --json state line and the log lines
    assert any(r.get("msg", "").startswith("starting services") for r in records)
    for log in state.logs.values():
        records = json_lines(Path(log).read_text())
        assert all(r.keys() >= KEYS for r in records)
