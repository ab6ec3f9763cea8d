"""``binhai sim eval``: the JSON contract, honest baselines, a hand-written scenario, the report."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from binhai.cli import cli
from binhai.cli.sim_eval import _COLUMNS

CLEAN_ENV = {"BINHAI_DSN": None, "BINHAI_CONFIG": None, "BINHAI_MQTT_URL": None}
KEYS = {
    "policy", "budget", "rho", "event_recall", "evidence_recall", "alert_precision",
    "latency_p50_windows", "latency_p95_windows", "latency_p95_windows_online", "per_kind",
}  # fmt: skip

HANDWRITTEN = """
name = "ward"
seed = 1
duration_s = 240

[[devices]]
kind = "wrist"
count = 3

[[devices]]
kind = "env"
count = 1

[[events]]
kind = "fall"
device = "wrist-00001"
at_s = 90
duration_s = 30

[[events]]
kind = "tremor"
rate_per_device_hour = 20

[[faults]]
kind = "dropout"
sensor = "ppg"
device = "wrist-00002"
at_s = 120
duration_s = 15
"""


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=CLEAN_ENV, catch_exceptions=False)


def _json(result: Result) -> dict[str, object]:
    assert result.exit_code == 0, result.output
    return json.loads(result.output.splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.slow
def test_eval_json_on_a_handwritten_scenario_at_another_seed(tmp_path: Path) -> None:
    path = tmp_path / "ward.toml"
    path.write_text(HANDWRITTEN)
    args = ["--policies", "all_cloud,all_edge,periodic,binhai,oracle", "--budgets", "0.1"]
    out = _json(invoke("sim", "eval", "--scenario", str(path), "--seed", "4", *args,
                       "--workers", "1", "--fit-seconds", "60", "--json"))  # fmt: skip
    assert (out["scenario"], out["seed"]) == ("ward", 4)
    rows = {r["policy"]: r for r in out["results"]}  # type: ignore[attr-defined]
    assert set(rows) == {"all_cloud", "all_edge", "periodic", "binhai", "oracle"}
    assert all(set(r) >= KEYS for r in rows.values())
    assert rows["all_cloud"]["rho"] == 1.0 and rows["all_cloud"]["budget"] is None
    assert rows["periodic"]["budget"] == 0.1 and rows["periodic"]["rho"] <= 0.1
    oracle = rows["oracle"]
    assert oracle["event_recall"] == 1.0 and oracle["evidence_recall"] == 1.0
    # the floor of full evidence: no policy that sends every anomalous window sends less
    full = [r["rho"] for p, r in rows.items() if p != "oracle" and r["evidence_recall"] == 1.0]
    assert full and oracle["rho"] < min(full)
    assert rows["all_cloud"]["event_recall"] == 1.0


def test_eval_writes_the_report(tmp_path: Path) -> None:
    out_dir = tmp_path / "report"
    result = CliRunner().invoke(
        cli,
        [
        "sim", "eval", "--scenario", "wearables", "--duration", "60", "--policies",
        "all_cloud,oracle", "--workers", "1", "--report", str(out_dir),
        ],
        env={**CLEAN_ENV, "COLUMNS": "200"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "all_cloud" in result.output
    html = (out_dir / "report.html").read_text()
    assert "data:image/png;base64," in html and "oracle" in html
    for name in ("pareto.png", "per_kind.png", "bytes.png", "delivery.png"):
        assert (out_dir / name).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--policies", "cloudy"], "unknown policy cloudy"),
        (["--budgets", "0,2"], "budgets are fractions"),
        (["--scenario", "nope"], "nope"),
    ],
)
def test_eval_rejects_bad_options(args: list[str], message: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "binhai", "sim", "eval", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


BEARING = """
name = "mill"
seed = 3
duration_s = 900

[[devices]]
kind = "machine"
count = 2

[[events]]
kind = "bearing_fault"
device = "machine-00001"
at_s = 400
duration_s = 200
magnitude = 0.8
"""


@pytest.mark.slow
def test_the_evidence_setting_brings_the_whole_episode(tmp_path: Path) -> None:
    """With ``--raw-per-episode`` large, every flagged window goes RAW while the budget allows:
    a weak bearing line, found within seconds and held while it lasts (one alert, not a flicker
    of them), brings nearly all of its windows' samples. (What that costs against the oracle
    is a benchmark figure, on the mixed scenario: docs/simulator.md.)"""
    path = tmp_path / "mill.toml"
    path.write_text(BEARING)
    rows = _json(invoke("sim", "eval", "--scenario", str(path), "--budgets", "0.5",
                        "--workers", "1", "--policies", "binhai,oracle",
                        "--raw-per-episode", "100000", "--json"))  # fmt: skip
    binhai, oracle = rows["results"]  # type: ignore[misc]
    assert oracle["evidence_recall"] == 1.0
    assert binhai["event_recall"] == 1.0 and binhai["alerts"] == 1, binhai
    assert binhai["evidence_recall"] >= 0.9 and binhai["latency_p50_windows"] <= 8, binhai


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(c) for c in f.read().split()]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


@pytest.mark.slow
def test_sigterm_stops_an_evaluation_and_its_worker_processes(tmp_path: Path) -> None:
    """``timeout`` or a supervisor sends SIGTERM to the command alone: the evaluation unwinds
    (exit 143) and its worker pool goes with it — the default action left the workers behind."""
    path = tmp_path / "ward.toml"
    path.write_text(HANDWRITTEN.replace("duration_s = 240", "duration_s = 3600", 1))
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    proc = subprocess.Popen(
        [sys.executable, "-m", "binhai", "sim", "eval", "--scenario", str(path),
         "--policies", "all_cloud", "--workers", "2"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while len(workers) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            workers = [c for c in _children(proc.pid) if "spawn_main" in _cmdline(c)]
        assert len(workers) == 2, "the evaluation never started its workers"
        time.sleep(2.0)  # the workers are running their shards
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 128 + signal.SIGTERM
        deadline = time.monotonic() + 60
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(w) for w in workers)
    finally:
        proc.kill()
        for w in workers:
            if _alive(w):
                os.kill(w, signal.SIGKILL)


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except FileNotFoundError:
        return ""


def test_the_table_cuts_no_name_and_drops_no_column_on_a_narrow_terminal(tmp_path: Path) -> None:
    path = tmp_path / "ward.toml"
    path.write_text(HANDWRITTEN)
    env = {**CLEAN_ENV, "COLUMNS": "60"}
    args = ["sim", "eval", "--scenario", str(path), "--policies", "all_cloud,binhai"]
    result = CliRunner().invoke(cli, [*args, "--budgets", "0.05", "--workers", "1"], env=env)
    assert result.exit_code == 0, result.output
    assert "…" not in result.output
    assert "all_cloud" in result.output and "binhai" in result.output
    words = result.output.split()
    assert all(w in words for _, title in _COLUMNS for w in title.split()), result.output
