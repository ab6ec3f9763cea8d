"""How far a live run and the in-process run of the same spec agree (``sim eval --live``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from binhai._sim._run import RunResult
from firmware_sim import AlertRow

__all__ = ["LiveRun", "agreement"]


@dataclass
class LiveRun:
    """A live run: the scored-run shape of the in-process runner, plus the database's view."""

    result: RunResult
    tenant: str
    #: windows the database holds per device, and those that carry raw samples
    stored_windows: dict[str, int]
    #: payload bytes of the stored batches (what the core received, without MQTT framing)
    stored_payload_bytes: int
    #: whether every device's final flush was confirmed in time
    flushed: bool
    skipped: dict[str, int]
    t0_ns: int


def agreement(live: LiveRun, sim: RunResult) -> dict[str, Any]:
    """How far the live run and the in-process run of the same spec agree.

    Alerts match on device, sensor and kind with starts within one window; windows are the
    windows each device decided on (both paths) and those the database holds (live: the
    decided ones it did not skip); bytes are the device-side wire bytes of each path.
    """
    window = {(d.device, s): w for d in sim.devices for s, w in d.window_s.items()}
    unmatched = list(live.result.alerts)
    matched = 0
    missing = []
    for a in sim.alerts:
        w = window.get((a.device, a.sensor), 1.0)
        hit = next(
            (
                b
                for b in unmatched
                if (b.device, b.sensor, b.kind) == (a.device, a.sensor, a.kind)
                and abs(b.start_s - a.start_s) <= w
            ),
            None,
        )
        if hit is None:
            missing.append(a)
        else:
            unmatched.remove(hit)
            matched += 1
    live_windows = {d.device: d.windows for d in live.result.devices}
    sim_windows = {d.device: d.windows for d in sim.devices}
    expected_stored = {d: n - live.skipped.get(d, 0) for d, n in live_windows.items()}
    live_bytes = sum(d.bytes_up for d in live.result.devices)
    sim_bytes = sum(d.bytes_up for d in sim.devices)
    return {
        "alerts_in_process": len(sim.alerts),
        "alerts_live": len(live.result.alerts),
        "alerts_matched": matched,
        "alerts_only_in_process": [_brief(a) for a in missing],
        "alerts_only_live": [_brief(a) for a in unmatched],
        "windows_in_process": sum(sim_windows.values()),
        "windows_live": sum(live_windows.values()),
        "windows_equal": live_windows == sim_windows,
        "windows_stored": sum(live.stored_windows.values()),
        "windows_stored_equal": {d: live.stored_windows.get(d, 0) for d in expected_stored}
        == expected_stored,
        "bytes_in_process": sim_bytes,
        "bytes_live": live_bytes,
        "bytes_ratio": round(live_bytes / sim_bytes, 5) if sim_bytes else None,
        "batches_in_process": sum(d.batches_stored for d in sim.devices),
        "batches_live": sum(d.batches_stored for d in live.result.devices),
        "publishes_in_process": sum(d.publishes for d in sim.devices),
        "publishes_live": sum(d.publishes for d in live.result.devices),
    }


def _brief(a: AlertRow) -> dict[str, Any]:
    return {"device": a.device, "sensor": a.sensor, "kind": a.kind, "start_s": round(a.start_s, 2)}
