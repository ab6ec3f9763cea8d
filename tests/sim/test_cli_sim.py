"""``binhai sim scenarios`` and ``binhai sim run --scenario`` (against the real broker)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from binhai.cli import cli

ROOT = Path(__file__).resolve().parents[2]
CLEAN_ENV = {"BINHAI_DSN": None, "BINHAI_CONFIG": None, "BINHAI_MQTT_URL": None}


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=CLEAN_ENV, catch_exceptions=False)


def test_sim_scenarios_json_lists_the_shipped_scenarios() -> None:
    result = invoke("sim", "scenarios", "--json")
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output.splitlines()[-1])["scenarios"]}
    assert {"wearables", "factory", "mixed"} <= set(rows)
    mixed = rows["mixed"]
    assert mixed["devices"] == 30 and mixed["kinds"] == ["env", "machine", "wrist"]
    assert 50 <= mixed["events"] + mixed["sensor_faults"] <= 150
    assert mixed["description"] and mixed["duration_s"] == 3600


def test_sim_scenarios_table() -> None:
    result = invoke("sim", "scenarios")
    assert result.exit_code == 0
    assert "wearables" in result.output and "factory" in result.output


@pytest.mark.broker
def test_sim_run_a_scenario_streams_and_writes_the_truth(
    tmp_path: Path, mqtt_url: str, unique_tenant: str
) -> None:
    truth = tmp_path / "truth.jsonl"
    result = invoke(
        "sim", "run", "--scenario", "mixed", "--duration", "5", "--speed", "2.5",
        "--truth", str(truth), "--mqtt-url", mqtt_url, "--tenant", unique_tenant,
        "--data-dir", str(tmp_path / "devices"), "--confirm", "puback", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.splitlines()[-1])
    assert (summary["scenario"], summary["seed"], summary["devices"]) == ("mixed", 7, 30)
    assert summary["sim_seconds"] == 5.0
    assert summary["batches_acked"] == summary["batches_sent"] > 0
    assert summary["samples_pushed"] > 30_000  # 512 Hz × 3 axes on 10 machines, and the rest
    labels = [json.loads(line) for line in truth.read_text().splitlines()]
    assert len(labels) == summary["labels"] >= 2
    fall = next(lab for lab in labels if lab["kind"] == "fall")
    assert fall == {
        "device": "wrist-00000", "sensor": "accel", "kind": "fall", "category": "event",
        "t_on": 2.0, "t_off": 5.0, "t0_unix": fall["t0_unix"],
    }  # fmt: skip
    reboot = next(lab for lab in labels if lab["kind"] == "reboot")
    assert (reboot["device"], reboot["sensor"], reboot["t_on"]) == ("env-00022", "", 3.0)
    assert all(lab["t_off"] <= 5.0 for lab in labels)


def test_scenario_and_plain_fleet_options_do_not_mix() -> None:
    result = invoke("sim", "run", "--scenario", "mixed", "--devices", "3")
    assert result.exit_code == 2
    assert "--devices" in result.output
    result = invoke("sim", "run", "--truth", "x.jsonl")
    assert result.exit_code == 2 and "--truth needs --scenario" in result.output


def test_a_bad_scenario_is_one_line_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'name = "b"\nseed = 1\nduration_s = 9\n[[devices]]\nkind = "wrist"\ncount = -1\n'
    )
    proc = subprocess.run(
        [sys.executable, "-m", "binhai", "sim", "run", "--scenario", str(bad)],
        capture_output=True, text=True, timeout=60, cwd=ROOT, check=False,
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.strip() == "error: scenario bad.toml: devices[0].count: must be >= 1, got -1"
