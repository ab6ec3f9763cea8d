"""``binhai bench sim``: how fast the evaluation runs a fleet in virtual time.

A shipped scenario scaled to ``devices`` (each ``[[devices]]`` group in proportion; per-device
event and fault rates unchanged) runs ``duration`` simulated seconds with the ``binhai`` policy
— every device's real engine (windows, kernels, screening, decisions, batches, SQLite outbox),
the counting transport and the in-process cloud (judging, alerts, confirmations) — on
``workers`` processes. Each device's budget is ``budget`` of its kind's all-cloud byte rate,
measured first on a short all-cloud run of one device per group.

Reported: device-windows per CPU second (per core), wall and CPU time, and the wall time
against the target (1,000 devices x 1 simulated hour in <= 300 s on two cores).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from binhai._sim._run import RunSpec, run
from firmware_sim import PolicyParams, Scenario, build_fleet, load_scenario

TARGET_WALL_S = 300.0


def scaled(scenario: Scenario, devices: int, duration_s: float) -> Scenario:
    """``scenario`` with ``devices`` devices over its groups, in proportion, and ``duration_s``."""
    total = sum(g.count for g in scenario.devices)
    counts = [max(1, round(g.count * devices / total)) for g in scenario.devices]
    counts[-1] = max(1, devices - sum(counts[:-1]))
    groups = tuple(
        dataclasses.replace(g, count=c) for g, c in zip(scenario.devices, counts, strict=True)
    )
    return dataclasses.replace(scenario, devices=groups, duration_s=duration_s)


def kind_rates(scenario: Scenario, probe_s: float = 60.0) -> dict[str, float]:
    """All-cloud uplink bytes per second of one device of each kind (a short all-cloud run)."""
    fleet = build_fleet(scenario)
    first: dict[str, int] = {}
    for i, dev in enumerate(fleet):
        first.setdefault(dev.kind, i)
    probe = RunSpec(
        scenario, PolicyParams("all_cloud"), duration_s=probe_s, devices=tuple(first.values())
    )
    result = run(dataclasses.replace(probe, judge=False))
    return {d.kind: d.bytes_up / probe_s for d in result.devices}


def bench_sim(
    *,
    scenario: str = "wearables",
    devices: int = 1000,
    duration_s: float = 3600.0,
    workers: int = 2,
    budget: float = 0.05,
    say: Callable[[str], None] = lambda _msg: None,
) -> dict[str, Any]:
    sc = scaled(load_scenario(scenario), devices, duration_s)
    say("all-cloud rates")
    rates = kind_rates(sc)
    kinds = {d.device_id: d.kind for d in build_fleet(sc)}
    bps = {dev: rates.get(kind, 0.0) for dev, kind in kinds.items()}
    say(f"{len(kinds)} devices x {duration_s:g} s")
    started = time.monotonic()
    result = run(RunSpec(sc, PolicyParams("binhai", budget), all_cloud_bps=bps), workers=workers)
    wall = time.monotonic() - started
    return {
        "scenario": sc.name,
        "devices": len(result.devices),
        "sim_seconds": duration_s,
        "workers": workers,
        "device_windows": result.device_windows,
        # three decimals: a small fleet's run takes tens of milliseconds on an idle machine
        "wall_s": round(wall, 3),
        "cpu_s": round(result.cpu_s, 3),
        "device_windows_per_s_per_core": round(result.device_windows / result.cpu_s),
        "device_windows_per_s": round(result.device_windows / wall),
        "alerts": len(result.alerts),
        "uplink_bytes": sum(d.bytes_up for d in result.devices),
        "target_wall_s": TARGET_WALL_S * (devices / 1000) * (duration_s / 3600),
        "meets_target": wall <= TARGET_WALL_S * (devices / 1000) * (duration_s / 3600),
    }
