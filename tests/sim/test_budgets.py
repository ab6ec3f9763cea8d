"""Budgets are hard limits, measured at the transport seam: every publish of a device's up topic
as MQTT 5 frames it (binhai/_sim/_wire.py), in virtual time, with the real device engine."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from binhai._sim._cloud import SimCloud
from binhai._sim._eval import Evaluation
from binhai._sim._node import EPOCH_NS, NS, SimNode, VirtualTime
from binhai._sim._run import RunSpec, engine_config
from device_sdk import Budget, SynergyConfig
from device_sdk._transport import publish_size
from firmware_sim import DeviceGroup, build_fleet
from firmware_sim._policies import PolicyParams
from tests.sim.helpers import at, scenario


def _drive(
    sc: object, budget: Budget, synergy: SynergyConfig, tmp_path: Path, duration: float
) -> list[tuple[float, int]]:
    """Run device 0 of ``sc`` alone; return (virtual s, wire bytes) of every up publish."""
    (dev,) = build_fleet(sc)[:1]  # type: ignore[arg-type]
    vt = VirtualTime()
    sent: list[tuple[float, int]] = []
    node: SimNode | None = None

    def downlink(_device: str, topic: str, payload: bytes, qos: int) -> bool:
        return node is not None and node.deliver_downlink(topic, payload, qos)

    cloud = SimCloud(now_ns=lambda: EPOCH_NS + vt.t_ns, downlink=downlink)

    def deliver(topic: str, payload: bytes) -> None:
        if topic.endswith("/up"):
            sent.append((vt.t_ns / NS, publish_size(topic, len(payload), 1)))
        cloud.receive(topic, payload)

    spec = RunSpec(sc, PolicyParams("binhai"), synergy=synergy)  # type: ignore[arg-type]
    config = replace(engine_config(spec, dev.device_id), budget=budget)
    node = SimNode(
        dev,
        tenant="t",
        vt=vt,
        deliver=deliver,
        params=spec.params,
        config=config,
        data_dir=tmp_path / dev.device_id,
    )
    for k in range(1, int(duration) + 1):
        vt.t_ns = k * NS
        node.advance(float(k))
        cloud.flush()
        node.settle()
    node.close()
    return sent


def _worst_excess(sent: list[tuple[float, int]], budget: Budget) -> float:
    """max over every interval [t_i, t_j] of bytes published in it - what the bucket allows."""
    worst = float("-inf")
    for i, (ti, _) in enumerate(sent):
        total = 0
        for tj, nbytes in sent[i:]:
            total += nbytes
            worst = max(worst, total - (budget.burst_bytes + budget.bytes_per_s * (tj - ti)))
    return worst


def test_a_device_that_wants_to_send_everything_never_exceeds_its_bucket(tmp_path: Path) -> None:
    """Threshold 0: every window is novel and asks to go RAW. Over every interval of the run the
    wire bytes of the up topic stay within burst + rate x length; and the bucket is what holds
    the device back (without it, it sends many times more)."""
    sc = scenario(
        DeviceGroup("wrist", 1),
        events=(at("events", "tremor", "wrist-00000", 100.0, 60.0),),
        duration_s=600.0,
    )
    greedy = SynergyConfig(novelty_threshold=0.0, explore_fraction=1.0)
    budget = Budget(bytes_per_s=30.0, burst_bytes=2000.0)
    sent = _drive(sc, budget, greedy, tmp_path / "tight", 600.0)
    free = _drive(sc, Budget(1e9, 1e9), greedy, tmp_path / "free", 600.0)
    tight_bytes, free_bytes = sum(b for _, b in sent), sum(b for _, b in free)
    excess = _worst_excess(sent, budget)
    print(f"budgeted {tight_bytes} B, unbudgeted {free_bytes} B, worst excess {excess:.0f} B")
    assert excess <= 0.0
    assert tight_bytes <= budget.burst_bytes + budget.bytes_per_s * 600.0
    assert free_bytes > 4 * tight_bytes  # the budget binds
    # per minute, as an operator reads it: never above one minute's refill plus the burst
    for m in range(10):
        in_minute = sum(b for t, b in sent if 60 * m < t <= 60 * (m + 1))
        assert in_minute <= budget.burst_bytes + 60 * budget.bytes_per_s


def test_below_the_battery_threshold_a_device_halves_its_bytes_and_keeps_its_events() -> None:
    """Same signals and events, batteries full vs at 15 %: at a 5 % budget the low-battery fleet
    sends at most half the bytes, and its event recall stays >= 0.90."""

    def fleet(battery: float) -> object:
        events = tuple(
            at("events", kind, f"wrist-{i:05d}", 120.0 + 150.0 * j, 30.0)
            for i in range(3)
            for j, kind in enumerate(("fall", "tremor", "fall", "tremor"))
        )
        return scenario(DeviceGroup("wrist", 3, battery=battery), events=events, duration_s=900.0)

    out = {}
    for battery in (1.0, 0.15):
        with Evaluation(fleet(battery)) as ev:  # type: ignore[arg-type]
            (row,) = ev.evaluate(["binhai"], [0.05])
        out[battery] = (row["bytes_up"], row["event_recall"])
    (full_bytes, full_recall), (low_bytes, low_recall) = out[1.0], out[0.15]
    print(f"battery 1.0: {full_bytes} B, recall {full_recall}; 0.15: {low_bytes} B, {low_recall}")
    assert low_bytes <= full_bytes / 2
    assert low_recall >= 0.90


def test_a_slow_sensor_can_afford_its_events_at_a_small_budget() -> None:
    """An env board's whole all-cloud stream is ~21 KB an hour; its heartbeats and summaries
    alone cost more than 5 % of that. The budget's floor lets its faults through while they
    last, not an hour later from the outbox: four faults in a row, 8 to 5 minutes long."""
    sc = scenario(
        DeviceGroup("env", 1),
        faults=(
            at("faults", "clipping", "env-00000", 600.0, 500.0, sensor="climate"),
            at("faults", "noise_burst", "env-00000", 1200.0, 300.0, sensor="climate"),
            at("faults", "stuck", "env-00000", 1800.0, 300.0, sensor="climate"),
            at("faults", "dropout", "env-00000", 2400.0, 180.0, sensor="climate"),
        ),
        duration_s=2800.0,
    )
    with Evaluation(sc) as ev:  # type: ignore[arg-type]
        (row,) = ev.evaluate(["binhai"], [0.05])
    print(row["rho"], row["event_recall"], row["per_kind"])
    assert row["event_recall"] == 1.0
    assert row["latency_p95_windows"] <= 3
