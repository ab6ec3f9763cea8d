"""``binhai sim eval --live``: the same scenario through the real broker, bridge, core and
PostgreSQL agrees with the in-process evaluation (alerts, windows, bytes within framing)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from binhai._sim import _live
from binhai._sim._eval import Evaluation
from binhai._sim._live import LiveConfig, evaluate_live
from binhai.cli import cli
from firmware_sim import DeviceGroup, Scenario
from tests.sim.helpers import at

#: per publish that one path has and the other has not (a heartbeat alone, ~140 bytes with its
#: framing), and per device for the contents of its health reports and command acks
_OVERHEAD = 200


def _scenario(name: str) -> Scenario:
    return Scenario(
        name,
        5,
        120.0,
        (DeviceGroup("wrist", 2), DeviceGroup("machine", 1)),
        events=(
            at("events", "fall", "wrist-00000", 30.0, 20.0),
            at("events", "tremor", "wrist-00001", 50.0, 20.0),
        ),
        faults=(at("faults", "spike", "machine-00002", 60.0, 3.0, sensor="vib"),),
    )


@pytest.mark.slow
@pytest.mark.db
@pytest.mark.broker
def test_live_and_in_process_agree(migrated_dsn, mqtt_url, unique_tenant, tmp_path):
    ev = Evaluation(_scenario(unique_tenant), workers=1)
    config = LiveConfig(speed=20.0, dsn=migrated_dsn, mqtt_url=mqtt_url, workdir=tmp_path)
    policies = ["all_cloud", "oracle", "binhai"]
    rows = {r["policy"]: r for r in evaluate_live(ev, policies, [0.1], config)}
    for policy, row in rows.items():
        live = row["live"]
        # the same alerts: device, sensor, kind, and a start within one window
        assert live["alerts_in_process"] == live["alerts_live"] == live["alerts_matched"] == 3
        assert not live["alerts_only_in_process"] and not live["alerts_only_live"], live
        # the same windows, decided on the devices and stored in the database
        assert live["windows_equal"] and live["windows_stored_equal"], live
        assert live["windows_live"] == 379
        # bytes equal but for the batches timing makes on one side only (heartbeats)
        gap = abs(live["bytes_live"] - live["bytes_in_process"])
        extra = abs(live["publishes_live"] - live["publishes_in_process"])
        assert gap <= _OVERHEAD * (extra + 3), (policy, live)
    assert rows["all_cloud"]["live"]["bytes_ratio"] == pytest.approx(1.0, abs=0.01)
    # the synergy uplink runs live too: summaries and a few raw windows, not every window
    assert rows["binhai"]["live"]["bytes_live"] < 0.2 * rows["all_cloud"]["live"]["bytes_live"]
    # and the figures are the database's: every event found, with its evidence
    assert rows["oracle"]["event_recall"] == rows["all_cloud"]["event_recall"] == 1.0
    assert rows["oracle"]["evidence_recall"] == 1.0 and rows["oracle"]["alert_precision"] == 1.0
    assert rows["oracle"]["lost"] == 0 and rows["all_cloud"]["batches_stored"] > 100
    assert rows["oracle"]["live"]["windows_stored"] < rows["all_cloud"]["live"]["windows_stored"]


def test_cli_live_runs_the_live_evaluation(tmp_path: Path, monkeypatch) -> None:
    seen: dict[str, Any] = {}

    def fake(ev, policies, budgets, config, *, progress=None):  # type: ignore[no-untyped-def]
        seen.update(scenario=ev.scenario.name, policies=policies, speed=config.speed)
        return [{"policy": "oracle", "budget": None, "rho": 0.05, "live": {"alerts_matched": 1}}]

    monkeypatch.setattr(_live, "evaluate_live", fake)
    result = CliRunner().invoke(
        cli,
        ["sim", "eval", "--scenario", "wearables", "--policies", "oracle", "--live",
         "--speed", "7", "--workers", "1", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.splitlines()[-1])
    assert out["results"][0]["live"] == {"alerts_matched": 1}
    assert seen == {"scenario": "wearables", "policies": ["oracle"], "speed": 7.0}
    bad = CliRunner().invoke(cli, ["sim", "eval", "--live", "--speed", "0"])
    assert bad.exit_code != 0 and "--speed" in bad.output
