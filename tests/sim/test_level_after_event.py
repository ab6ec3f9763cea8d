"""Slow sensors after an event: an env board's humidity keeps falling as the day warms (10 %RH
an hour on this board); once its overheat is over, that trend must not hold the level check on
for the rest of the run (one alert from the overheat to the end of the hour, which also swallowed
a later spike fault)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import kernels
from cloud_core import AlertTracker, Evidence, Judge, JudgeConfig
from firmware_sim import build_fleet, load_scenario
from kernels import _screen as scr

NS = 1_000_000_000


def alerts() -> tuple[list[tuple[float, float, str]], list]:
    sc = replace(load_scenario("mixed"), seed=1)
    (dev,) = [d for d in build_fleet(sc) if d.device_id == "env-00025"]
    info = dev.sensor("climate")
    judge = Judge(JudgeConfig())
    tracker = AlertTracker(record=True)
    for i in range(int(sc.duration_s // (info.window / info.rate_hz))):
        x = np.ascontiguousarray(dev.take("climate", info.window).T)
        feats = np.concatenate([kernels.window_features(ch, info.rate_hz) for ch in x])
        t0 = round(i * info.window / info.rate_hz * NS)
        key = ("t", dev.device_id, "climate")
        v = judge.judge(Evidence(key, t0, info.rate_hz, info.window, feats, x))
        tracker.observe(key, t0, info.window * NS, v, t0 + info.window * NS)
    found = [(a.start_ns / NS, a.end_ns / NS, a.kind) for a in tracker.alerts]
    return found, [lb for lb in dev.labels if lb.sensor == "climate"]


@pytest.mark.parametrize("reseat", [True, False], ids=["reseat", "without"])
def test_the_overheat_alert_ends_with_the_overheat(reseat: bool, monkeypatch) -> None:
    if not reseat:
        monkeypatch.setitem(scr.PROFILES, "climate", replace(scr.PROFILES["climate"], reseat=0))
    found, labels = alerts()
    (heat,) = [lb for lb in labels if lb.kind == "overheat"]
    (spike,) = [lb for lb in labels if lb.kind == "spike" and lb.t_on > heat.t_off]
    over = [a for a in found if a[0] <= heat.t_off and a[1] >= heat.t_on]
    assert over, found
    ends_soon = over[0][1] <= heat.t_off + 10 * 60
    spike_alone = any(spike.t_on - 60 <= a[0] and a[1] <= spike.t_off + 180 for a in found)
    assert (ends_soon and spike_alone) == reseat, found
