"""``binhai bench sim``: a small fleet, the JSON contract (the scale run is the benchmark)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from binhai.bench.sim import scaled
from binhai.cli import cli
from firmware_sim import load_scenario


def test_scaled_keeps_the_groups_in_proportion() -> None:
    sc = scaled(load_scenario("mixed"), 300, 120.0)
    counts = {g.kind: g.count for g in sc.devices}
    assert sum(counts.values()) == 300 and sc.duration_s == 120.0
    assert counts == {"wrist": 120, "machine": 100, "env": 80}  # 12 : 10 : 8


def test_bench_sim_json() -> None:
    args = ["bench", "sim", "--devices", "6", "--duration", "60", "--workers", "1", "--json"]
    result = CliRunner().invoke(cli, args, env={"BINHAI_CONFIG": None})
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.splitlines()[-1])
    assert out["devices"] == 6 and out["sim_seconds"] == 60.0
    # 6 wrists x 60 s: accel windows of 2.56 s and PPG windows of 5.12 s
    assert out["device_windows"] == 6 * (60 // 2.56 + 60 // 5.12)
    assert out["device_windows_per_s_per_core"] > 0 and out["cpu_s"] > 0
    assert isinstance(out["meets_target"], bool)
