"""``binhai sim eval --live``: a scenario through the real broker, bridge, core and PostgreSQL.

:func:`run_live` runs one policy over a scenario the way production runs: every simulated device
is a real :class:`device_sdk.Device` (its own MQTT client, durable outbox and worker thread)
driven by the live fleet's :class:`firmware_sim._live.Member` at ``speed`` times the wall clock,
publishing to a real broker; a real bridge and core (``binhai._stack.Stack``, child processes)
store the batches in PostgreSQL, judge every window and write the alerts. The figures are then
computed from what the database holds — alerts from ``alerts``, windows, raw evidence, batches
and evictions from their tables — and scored by the same code as the in-process evaluation.

Uplink bytes are counted on the device side (:mod:`binhai._sim._live_wire`), with the formulas
of the in-process path. The device engine closes a batch after ``max_age_s`` and sends a
heartbeat every ``heartbeat_s`` of its monotonic clock — the wall clock live, the virtual clock
in process — so live both are divided by ``speed``; samples are pushed every ``step_s`` of
simulated time as in process; the kernels are warmed and every device connected before the clock
starts, and all devices flush at once at the end. The windows' bytes are then the same in both
paths; what still differs is timing and real values: a heartbeat that falls due between two
window batches on the wall clock goes as a batch of its own, health reports carry real CPU times
and clock offsets, and the core's command ids are longer than the in-process cloud's.

The decider of the policy (``firmware_sim.make_decider``) is set on each Device's engine, and a
budget's token bucket refills ``speed`` times faster, as the in-process engine's does in
simulated time. Faults the live fleet does not apply (partitions, clock skew, reconnect storms:
see :class:`firmware_sim.Fleet`) are not in the live figures.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, fields, replace
from functools import partial
from pathlib import Path
from typing import Any

import psycopg

import kernels
import protos
from binhai._embedded import start_broker, start_postgres
from binhai._sim._agreement import LiveRun, agreement
from binhai._sim._eval import Evaluation, _rates
from binhai._sim._live_wire import CountingMqtt, Tally
from binhai._sim._node import NS
from binhai._sim._run import DeviceRow, RunResult, RunSpec, engine_config, run
from binhai._stack import Stack
from device_sdk import (
    Budget,
    Device,
    MqttOptions,
    MqttTransport,
)
from device_sdk._edge import Choice, Decider, WindowView
from firmware_sim import (
    BUDGETED,
    POLICIES,
    AlertRow,
    PolicyParams,
    SimDevice,
    SimError,
    build_fleet,
    make_decider,
)
from firmware_sim._live import Member, Source

log = logging.getLogger(__name__)

__all__ = ["LiveConfig", "LiveRun", "evaluate_live", "run_live"]

Say = Callable[[str], None]


def _quiet(_msg: str) -> None:
    pass


_SCORED = ("event", "sensor_fault")
_SKIP = 0
_SAMPLES = (int(protos.Offload.OFFLOAD_RAW), int(protos.Offload.OFFLOAD_BOTH))


@dataclass(frozen=True, slots=True)
class LiveConfig:
    """How to run live: ``speed`` x the wall clock; the stack on ``dsn``/``mqtt_url`` (None:
    embedded, as ``binhai up``) with its files in ``workdir`` (None: a temporary directory).
    Samples are pushed every ``RunSpec.step_s`` of simulated time, as in process."""

    speed: float = 10.0
    dsn: str | None = None
    mqtt_url: str | None = None
    workdir: Path | None = None
    #: wall seconds to wait at the start for every device to connect, and at the end for every
    #: batch to be stored
    connect_timeout_s: float = 30.0
    flush_timeout_s: float = 60.0


@dataclass
class _Ledger:
    """What one live device decided, for scoring: its windows and the truly anomalous ones."""

    tally: Tally = field(default_factory=Tally)
    windows: int = 0
    skipped: int = 0
    anomalous: list[tuple[str, int]] = field(default_factory=list)  # (sensor, t0_ns)
    boots: int = 0


class _LiveFleet:
    """The scenario's devices as live Devices on the stack's broker."""

    def __init__(self, spec: RunSpec, cfg: LiveConfig, mqtt_url: str, data_dir: Path) -> None:
        self.spec = spec
        self.cfg = cfg
        self.mqtt_url = mqtt_url
        self.data_dir = data_dir
        fleet = build_fleet(spec.scenario)
        indices = range(len(fleet)) if spec.devices is None else spec.devices
        self.sims: list[SimDevice] = [fleet[i] for i in indices]
        self.ledgers = {d.device_id: _Ledger() for d in self.sims}
        self.t0_ns = 0  # the wall clock of scenario time 0, once running
        self.members: list[Member] = []

    def _truth(self, sim: SimDevice) -> Callable[[str, int, int], bool]:
        spans = [(lb.sensor, lb.t_on, lb.t_off) for lb in sim.labels if lb.category in _SCORED]

        def truth(sensor: str, t0_ns: int, length_ns: int) -> bool:
            a = (t0_ns - self.t0_ns) / NS
            b = a + length_ns / NS
            return any(s == sensor and on < b and a < off for s, on, off in spans)

        return truth

    def _observed(self, decide: Decider, led: _Ledger, truth: Callable[..., bool]) -> Decider:
        def observed(w: WindowView) -> Choice:
            choice = decide(w)
            led.windows += 1
            led.skipped += choice.mode == _SKIP
            if truth(w.spec.name, w.t0_ns, round(w.spec.window * NS / w.spec.rate_hz)):
                led.anomalous.append((w.spec.name, w.t0_ns))
            return choice

        return observed

    def open_device(self, source: Source) -> Device:
        sim = next(d for d in self.sims if d.device_id == source.device_id)
        led = self.ledgers[sim.device_id]
        led.boots += 1
        speed = self.cfg.speed
        base = engine_config(self.spec, sim.device_id)
        # every engine setting of the in-process run (EngineConfig's fields are Device's
        # parameters of the same names), with its times scaled to the wall clock
        engine = replace(
            base,
            budget=Budget(base.budget.bytes_per_s * speed, base.budget.burst_bytes),
            batch=replace(base.batch, max_age_s=base.batch.max_age_s / speed),
            heartbeat_s=base.heartbeat_s / speed,
            firmware="firmware_sim",
            confirm="stored",
        )
        transport = CountingMqtt(
            MqttTransport(self.mqtt_url, MqttOptions(backoff_max_s=2.0)), led.tally
        )
        dev = Device(
            sim.device_id,
            tenant=self.spec.scenario.name,
            data_dir=self.data_dir / sim.device_id,
            transport=transport,
            **{f.name: getattr(engine, f.name) for f in fields(engine)},
        )
        for s in sim.sensors:
            dev.add_sensor(
                s.name, rate_hz=s.rate_hz, channels=s.channels, window=s.window, hop=s.window
            )
        truth = self._truth(sim)
        policy = make_decider(self.spec.params, device=sim.device_id, truth=truth)
        # Device takes no decider: set it on its engine before the first sample is pushed
        edge = dev._engine.edge
        # the SDK's own decision: the synergy uplink's when the engine runs it (as in process)
        edge.decider = self._observed(policy or edge.decider or edge.budgeted, led, truth)
        return dev

    def run(self) -> float:
        """Stream the scenario; return the simulated seconds run."""
        kernels.warm_up()  # a first window must not wait for the kernels to load
        for sim in self.sims:
            downtimes = tuple((lb.t_on, lb.t_off) for lb in sim.labels if lb.kind == "reboot")
            self.members.append(
                Member(sim, self.open_device, battery=sim.battery_at, downtimes=downtimes)
            )
        # in process a device is connected when it boots: start the clock once all are
        deadline = time.monotonic() + self.cfg.connect_timeout_s
        while not all(m.stats()["connected"] for m in self.members):
            if time.monotonic() > deadline:
                raise SimError(f"live devices not connected after {self.cfg.connect_timeout_s}s")
            time.sleep(0.01)
        duration = self.spec.duration_s or self.spec.scenario.duration_s
        step_s = self.spec.step_s
        started = time.monotonic()
        t0_unix = time.time()
        self.t0_ns = round(t0_unix * NS)
        sim_s = 0.0
        while sim_s < duration - 1e-9:
            step = min(step_s, duration - sim_s)
            for m in self.members:
                m.step(sim_s, step, t0_unix)
            sim_s += step
            wait = started + sim_s / self.cfg.speed - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        return sim_s

    def close(self) -> tuple[dict[str, dict[str, Any]], bool]:
        """Flush every device (until the cloud confirmed everything) and close; per-device
        stats and whether every flush completed."""
        deadline = time.monotonic() + self.cfg.flush_timeout_s
        for m in self.members:
            m.finish()
        # all at once: time spent flushing one device is heartbeat time for the others
        with ThreadPoolExecutor(max_workers=min(32, len(self.members) or 1)) as pool:
            ok = all(pool.map(partial(_flush, deadline=deadline), self.members))
        stats = {m.source.device_id: m.stats() for m in self.members}
        for m in self.members:
            m.close()
        first = {m.source.device_id: m.first_seq for m in self.members}
        for dev_id, st in stats.items():
            st["batches_created"] = int(st["next_seq"]) - first[dev_id]
        return stats, ok


def _flush(member: Member, *, deadline: float) -> bool:
    assert member.device is not None
    return member.device.flush(max(0.1, deadline - time.monotonic()))


_DB_WINDOWS = """
SELECT device_id, sensor, t0, offload FROM windows WHERE tenant = %s
"""
_DB_ALERTS = """
SELECT device_id, sensor, kind, start_ns, end_ns, raised_at, score, windows
FROM alerts WHERE tenant = %s ORDER BY device_id, sensor, start_ns
"""
_DB_BATCHES = """
SELECT device_id, count(*), coalesce(sum(payload_bytes), 0) FROM batches WHERE tenant = %s
GROUP BY device_id
"""
_DB_EVICTED = """
SELECT device_id, coalesce(sum(last_seq - first_seq + 1), 0) FROM evictions WHERE tenant = %s
GROUP BY device_id
"""
_DB_BATTERY = """
SELECT DISTINCT ON (device_id) device_id, battery FROM device_health WHERE tenant = %s
ORDER BY device_id, seq DESC
"""


def _ns(t: Any) -> int:
    from cloud_core._queries import to_ns

    return to_ns(t)


def _collect(
    fleet: _LiveFleet, dsn: str, stats: dict[str, dict[str, Any]], duplicates: int
) -> tuple[RunResult, dict[str, int], int]:
    tenant, t0, speed = fleet.spec.scenario.name, fleet.t0_ns, fleet.cfg.speed
    with psycopg.connect(dsn) as conn:
        windows = conn.execute(_DB_WINDOWS, (tenant,)).fetchall()
        alerts = conn.execute(_DB_ALERTS, (tenant,)).fetchall()
        batches = {r[0]: (int(r[1]), int(r[2])) for r in conn.execute(_DB_BATCHES, (tenant,))}
        evicted = {r[0]: int(r[1]) for r in conn.execute(_DB_EVICTED, (tenant,))}
        battery = {r[0]: float(r[1]) for r in conn.execute(_DB_BATTERY, (tenant,))}
    evidence = set()
    stored: dict[str, int] = {}
    last_t0: dict[str, dict[str, float]] = {}
    for device, sensor, t, offload in windows:
        t_ns = _ns(t)
        stored[device] = stored.get(device, 0) + 1
        last = last_t0.setdefault(device, {})
        last[sensor] = max(last.get(sensor, 0.0), (t_ns - t0) / NS)
        if offload in _SAMPLES:
            evidence.add((device, sensor, t_ns // 1000))  # the database keeps microseconds
    out = RunResult(params=fleet.spec.params, workers=1)
    for i, sim in enumerate(fleet.sims):
        dev = sim.device_id
        led, st = fleet.ledgers[dev], stats[dev]
        window_s = {s.name: s.window / s.rate_hz for s in sim.sensors}
        out.devices.append(
            DeviceRow(
                dev,
                sim.kind,
                led.tally.bytes_up,
                led.tally.publishes,
                led.windows,
                int(st["batches_created"]),
                batches.get(dev, (0, 0))[0],
                duplicates if i == 0 else 0,  # the core counts them for the whole fleet
                evicted.get(dev, 0),
                window_s,
                led.tally.connects,
                led.boots,
                last_t0.get(dev, {}),
                battery.get(dev, -1.0),
            )
        )
        out.device_windows += led.windows
        for sensor, w_t0 in led.anomalous:
            arrived = (dev, sensor, w_t0 // 1000) in evidence
            out.anomalous.append((dev, sensor, (w_t0 - t0) / NS, window_s[sensor], arrived))
    for device, sensor, kind, start, end, raised, score, n in alerts:
        out.alerts.append(
            AlertRow(
                device,
                sensor,
                kind,
                (int(start) - t0) / NS,
                (int(end) - t0) / NS,
                (_ns(raised) - t0) / NS * speed,  # wall time since the start, in scenario time
                float(score),
                int(n),
            )
        )
    out.devices.sort(key=lambda d: d.device)
    out.anomalous.sort()
    return out, stored, sum(p for _, p in batches.values())


@contextmanager
def _services(config: LiveConfig, workdir: Path) -> Iterator[tuple[str, str]]:
    """(dsn, broker URL): the configured ones, else embedded ones started here."""
    with ExitStack() as es:
        dsn = config.dsn or es.enter_context(start_postgres(workdir / "postgres")).dsn
        url = config.mqtt_url or es.enter_context(start_broker(workdir / "broker")).url
        yield dsn, url


def _run_on(
    dsn: str, url: str, workdir: Path, spec: RunSpec, config: LiveConfig, say: Say
) -> LiveRun:
    """One live run on the services: a bridge and a core of its own for the scenario's tenant."""
    tenant = spec.scenario.name
    # the core's policy engine stays off: the in-process run it is compared with has none
    stack = Stack(
        workdir / f"stack-{tenant}",
        dsn=dsn,
        mqtt_url=url,
        tenant=tenant,
        core_args=("--policy-period", "0"),
    )
    say(f"{tenant}: starting a bridge and a core")
    with stack:
        fleet = _LiveFleet(spec, config, url, workdir / f"devices-{tenant}")
        started = time.monotonic()
        say(f"{tenant}: {spec.params.name} live at {config.speed:g}x")
        sim_s = fleet.run()
        stats, flushed = fleet.close()
        if not flushed:
            log.warning("live run: not every batch was confirmed within the flush timeout")
        wall = time.monotonic() - started
        duplicates = int(stack.metrics("core-0").get("binhai_core_dedup_hits_total", 0))
        result, stored, payload = _collect(fleet, dsn, stats, duplicates)
    result.duration_s = sim_s
    result.wall_s = wall
    skipped = {d: led.skipped for d, led in fleet.ledgers.items()}
    return LiveRun(result, tenant, stored, payload, flushed, skipped, fleet.t0_ns)


def run_live(
    spec: RunSpec, config: LiveConfig = LiveConfig(), *, say: Say | None = None
) -> LiveRun:
    """Run ``spec`` live (see the module docstring). The scenario's name is the tenant: it must
    be unused in the database."""
    with tempfile.TemporaryDirectory(prefix="binhai-live-") as tmp:
        workdir = config.workdir or Path(tmp)
        with _services(config, workdir) as (dsn, url):
            return _run_on(dsn, url, workdir, spec, config, say or _quiet)


def evaluate_live(
    ev: Evaluation,
    policies: Sequence[str],
    budgets: Sequence[float],
    config: LiveConfig = LiveConfig(),
    *,
    progress: Say | None = None,
) -> list[dict[str, Any]]:
    """:meth:`Evaluation.evaluate`'s rows, each policy run live (fitted in process as usual),
    each row with ``"live"``: its :func:`agreement` with the in-process run of the same spec.

    Every run gets a tenant of its own, ``{scenario}.{k}``, on one set of services; its rho,
    and the in-process run it is compared with, are of the scenario under that name (the
    tenant is on the wire: in every topic and batch).
    """
    for name in policies:
        if name not in POLICIES:
            raise ValueError(f"unknown policy {name!r} (one of {', '.join(POLICIES)})")
    cases = [(n, b) for n in policies for b in (budgets if n in BUDGETED else [None])]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="binhai-live-") as tmp:
        workdir = config.workdir or Path(tmp)
        with _services(config, workdir) as (dsn, url):
            for k, (name, budget) in enumerate(cases, 1):
                params = ev.fit(name, budget) if budget is not None else PolicyParams(name)
                scenario = replace(ev.scenario, name=f"{ev.scenario.name}.{k}")
                with Evaluation(scenario, workers=ev.workers, step_s=ev.step_s) as local:
                    base = local.baseline()
                    rates = _rates(base) if name == "binhai" else None
                    spec = RunSpec(
                        scenario, params, step_s=ev.step_s, all_cloud_bps=rates,
                        synergy=ev.synergy,
                    )  # fmt: skip
                    live = _run_on(dsn, url, workdir, spec, config, progress or _quiet)
                    row = local.score(live.result, budget)
                    sim = base if name == "all_cloud" else run(spec, workers=ev.workers)
                    row["live"] = agreement(live, sim)
                    rows.append(row)
    return rows
