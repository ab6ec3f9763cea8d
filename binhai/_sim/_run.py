"""One policy over one scenario in virtual time: devices, in-process cloud, the raw results.

:func:`run` splits the fleet into shards, one worker process each (devices do not interact in a
run, and the cloud's state is per device, so a shard carries its own cloud); each shard steps all
its devices through virtual time in ``step_s`` increments, then reports plain data that
:mod:`binhai._sim._score` turns into figures. Results do not depend on the number of shards: every
device's signals, decisions and alerts depend only on the scenario, its seed and the policy.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from binhai._sim._cloud import SimCloud
from binhai._sim._node import EPOCH_NS, NS, SimNode, VirtualTime
from cloud_core import PolicyChange, PolicyEngineConfig
from device_sdk._config import BatchPolicy, Budget
from device_sdk._engine import EngineConfig
from device_sdk._synergy import SynergyConfig
from firmware_sim import AlertRow, PolicyParams, Scenario, build_fleet

#: A device's uplink budget is ``budget`` x its all-cloud byte rate, and at least MIN_RATE bytes
#: per second (a slow sensor's heartbeats and summaries alone cost more than a few percent of its
#: own tiny all-cloud rate; below the floor its events would wait in the outbox); its bucket holds
#: BURST_S seconds of it, and at least MIN_BURST bytes (one raw window and its framing, so that a
#: device with a tiny budget can still send evidence now and then).
MIN_RATE = 2.0
BURST_S = 600.0
MIN_BURST = 1500.0
#: Heartbeats (with the summaries of ordinary windows) of synergy devices, and how long their
#: non-urgent records wait in an open batch.
SYNERGY_HEARTBEAT_S = 300.0
SYNERGY_BATCH_AGE_S = 30.0


@dataclass(frozen=True, slots=True)
class RunSpec:
    scenario: Scenario
    params: PolicyParams
    step_s: float = 1.0
    duration_s: float | None = None  # default: the scenario's
    #: bytes per second of the all-cloud baseline, per device (budgeted SDK policy only)
    all_cloud_bps: dict[str, float] | None = None
    devices: tuple[int, ...] | None = None  # indices into the fleet; default all
    judge: bool = True  # False: the cloud only counts (fitting runs)
    #: the synergy uplink's settings at boot (``binhai`` policy)
    synergy: SynergyConfig = SynergyConfig()
    #: the cloud's policy engine closing the loop (``binhai`` policy; None: no engine)
    policy: PolicyEngineConfig | None = None


@dataclass
class DeviceRow:
    device: str
    kind: str
    bytes_up: int
    publishes: int
    windows: int
    batches_created: int
    batches_stored: int
    duplicates: int
    evicted: int
    window_s: dict[str, float]
    connects: int = 0
    boots: int = 0
    last_t0_s: dict[str, float] = field(default_factory=dict)
    battery: float = -1.0
    queued: int = 0
    #: the policy version the device ran at the end (its last health report), 0: none
    policy_version: int = 0


@dataclass
class ShardResult:
    devices: list[DeviceRow] = field(default_factory=list)
    alerts: list[AlertRow] = field(default_factory=list)
    #: (device, sensor, window start s, window length s, raw reached the cloud)
    anomalous: list[tuple[str, str, float, float, bool]] = field(default_factory=list)
    undecodable: int = 0
    cpu_s: float = 0.0
    device_windows: int = 0
    #: (virtual s, device, version, novelty threshold) of every policy change the cloud sent
    policy_changes: list[tuple[float, str, int, float]] = field(default_factory=list)
    #: (virtual s, device, windows, novel-only windows) the policy engine saw in each round
    policy_rounds: list[tuple[float, str, int, int]] = field(default_factory=list)


@dataclass
class RunResult(ShardResult):
    params: PolicyParams = field(default_factory=lambda: PolicyParams("binhai"))
    duration_s: float = 0.0
    wall_s: float = 0.0
    workers: int = 1


def engine_config(spec: RunSpec, device: str) -> EngineConfig:
    if spec.params.name != "binhai":
        return EngineConfig(heartbeat_s=30.0)
    budget = Budget()
    if spec.params.budget is not None and spec.all_cloud_bps:
        rate = max(spec.params.budget * spec.all_cloud_bps.get(device, 0.0), MIN_RATE)
        budget = Budget(bytes_per_s=rate, burst_bytes=max(rate * BURST_S, MIN_BURST))
    return EngineConfig(
        budget=budget,
        heartbeat_s=spec.policy.heartbeat_s if spec.policy is not None else SYNERGY_HEARTBEAT_S,
        batch=BatchPolicy(max_age_s=SYNERGY_BATCH_AGE_S),
        uplink="synergy",
        synergy=spec.synergy,
    )


def run_shard(
    spec: RunSpec, indices: Sequence[int], progress: Callable[[float], None] | None = None
) -> ShardResult:
    started = time.process_time()
    fleet = build_fleet(spec.scenario)
    duration = spec.duration_s or spec.scenario.duration_s
    vt = VirtualTime()
    nodes: dict[str, SimNode] = {}

    def downlink(device: str, topic: str, payload: bytes, qos: int) -> bool:
        return nodes[device].deliver_downlink(topic, payload, qos)

    closed_loop = spec.params.name == "binhai" and spec.policy is not None
    cloud = SimCloud(
        now_ns=lambda: EPOCH_NS + vt.t_ns,
        downlink=downlink,
        judging=spec.judge,
        policy=spec.policy if closed_loop else None,
        default_threshold=spec.synergy.novelty_threshold,
    )
    with tempfile.TemporaryDirectory(prefix="binhai-eval-") as tmp:
        for i in indices:
            dev = fleet[i]
            nodes[dev.device_id] = SimNode(
                dev,
                tenant=spec.scenario.name,
                vt=vt,
                deliver=cloud.receive,
                params=spec.params,
                config=engine_config(spec, dev.device_id),
                data_dir=Path(tmp) / dev.device_id,
            )
        steps = math.ceil(duration / spec.step_s - 1e-9)
        for k in range(1, steps + 1):
            t = min(k * spec.step_s, duration)
            vt.t_ns = round(t * NS)
            for node in nodes.values():
                node.advance(t)
            cloud.flush()
            cloud.tick()
            for node in nodes.values():
                node.settle()
            if progress is not None:
                progress(t)
        for node in nodes.values():
            node.finish()
            cloud.flush()
            node.settle()
    return _collect(cloud, nodes, time.process_time() - started)


def _collect(cloud: SimCloud, nodes: dict[str, SimNode], cpu_s: float) -> ShardResult:
    out = ShardResult(cpu_s=cpu_s, undecodable=cloud.undecodable)
    for dev_id, node in nodes.items():
        led = cloud.ledger(dev_id)
        window_s = {s.name: s.window / s.rate_hz for s in node.dev.sensors}
        out.devices.append(
            DeviceRow(
                dev_id,
                node.dev.kind,
                node.transport.bytes_up,
                node.transport.publishes,
                node.log.windows,
                node.batches_created,
                len(led.seqs),
                led.duplicates,
                sum(last - first + 1 for first, last, _ in led.evicted),
                window_s,
                node.transport.connects,
                node.boots,
                {s: (t - EPOCH_NS) / NS for s, t in led.last_t0.items()},
                led.last_health.battery if led.last_health is not None else -1.0,
                node.queued_at_end,
                led.last_health.policy_version if led.last_health is not None else 0,
            )
        )
        out.device_windows += node.log.windows
        for sensor, t0_ns, _mode in node.log.anomalous:
            arrived = (dev_id, sensor, t0_ns) in cloud.evidence
            out.anomalous.append(
                (dev_id, sensor, node.scenario_s(t0_ns), window_s[sensor], arrived)
            )
    out.policy_changes = [_change_row(t, ch) for t, ch in cloud.policy_log]
    out.policy_rounds = [
        ((t - EPOCH_NS) / NS, r.device, r.windows, r.novel) for t, r in cloud.round_log
    ]
    for a in cloud.tracker.alerts:
        out.alerts.append(
            AlertRow(
                a.device,
                a.sensor,
                a.kind,
                (a.start_ns - EPOCH_NS) / NS,
                (a.end_ns - EPOCH_NS) / NS,
                (a.raised_ns - EPOCH_NS) / NS,
                a.score,
                a.windows,
            )
        )
    return out


def _change_row(t_ns: int, ch: PolicyChange) -> tuple[float, str, int, float]:
    return ((t_ns - EPOCH_NS) / NS, ch.device, ch.version, ch.fields["novelty_threshold"])


def _shard_main(args: tuple[RunSpec, list[int]]) -> ShardResult:
    spec, indices = args
    return run_shard(spec, indices)


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """Processes for :func:`run` (spawned: no fork after Numba's threads); reuse one across
    runs to pay the start-up (imports, the kernels' cache) once."""
    return ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"))


def run(spec: RunSpec, *, workers: int = 1, pool: ProcessPoolExecutor | None = None) -> RunResult:
    """Run ``spec`` on ``workers`` processes (1: in this process), from ``pool`` if given."""
    started = time.monotonic()
    n = spec.scenario.device_count if spec.devices is None else len(spec.devices)
    indices = (
        list(range(spec.scenario.device_count)) if spec.devices is None else list(spec.devices)
    )
    workers = max(1, min(workers, n))
    if workers == 1:
        shards = [run_shard(spec, indices)]
    else:
        parts = [(spec, indices[i::workers]) for i in range(workers)]
        # a worker that dies raises BrokenProcessPool (never a silent hang)
        if pool is not None:
            shards = list(pool.map(_shard_main, parts))
        else:
            with worker_pool(workers) as own:
                shards = list(own.map(_shard_main, parts))
    result = RunResult(
        params=spec.params,
        duration_s=spec.duration_s or spec.scenario.duration_s,
        wall_s=time.monotonic() - started,
        workers=workers,
    )
    for sh in shards:
        result.devices.extend(sh.devices)
        result.alerts.extend(sh.alerts)
        result.anomalous.extend(sh.anomalous)
        result.undecodable += sh.undecodable
        result.cpu_s += sh.cpu_s
        result.device_windows += sh.device_windows
        result.policy_changes.extend(sh.policy_changes)
        result.policy_rounds.extend(sh.policy_rounds)
    result.devices.sort(key=lambda d: d.device)
    result.alerts.sort(key=lambda a: (a.device, a.sensor, a.start_s))
    result.anomalous.sort()
    result.policy_changes.sort()
    result.policy_rounds.sort()
    return result
