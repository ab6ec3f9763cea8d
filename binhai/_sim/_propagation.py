"""How fast a policy change reaches a live fleet: ``binhai sim propagation``.

:func:`measure_propagation` runs a scenario live (:mod:`binhai._sim._live`: real Devices on a
real broker, a real bridge and core on PostgreSQL) and, at ``at_s`` of simulated time, has an
operator pin ``fields`` for the whole tenant through the core's ``SetPolicy`` (what ``binhai
policy set`` does). The core stores the override and sends every device of the tenant a Policy
command through the bridge; each device applies it, acks it and runs the new version. The delay
of a device is from just before the RPC to the first moment its stats show the new version,
polled every few milliseconds, in simulated seconds (wall seconds x ``speed``). The devices
counted are those connected when the change is made; they are polled while the RPC runs (it
stores and sends one command per device, so the first devices run theirs before it returns).
The engine's periodic rounds are off in this core, so every change seen is the operator's.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

import protos
from binhai._sim._live import LiveConfig, _LiveFleet, _services
from binhai._sim._run import RunSpec
from binhai._stack import Stack
from firmware_sim import SimError

__all__ = ["Propagation", "measure_propagation"]

_POLL_S = 0.005


@dataclass
class Propagation:
    """Delays (simulated s) of the devices connected when the change was made; None: not seen."""

    speed: float
    within_s: float
    delays_s: dict[str, float | None] = field(default_factory=dict)
    commands: int = 0

    @property
    def reached(self) -> int:
        return sum(d is not None and d <= self.within_s for d in self.delays_s.values())

    @property
    def share(self) -> float:
        return self.reached / len(self.delays_s) if self.delays_s else 0.0

    def as_dict(self) -> dict[str, Any]:
        seen = sorted(d for d in self.delays_s.values() if d is not None)

        def q(p: float) -> float | None:
            return round(seen[min(len(seen) - 1, int(p * len(seen)))], 3) if seen else None

        return {
            "devices": len(self.delays_s),
            "commands": self.commands,
            "reached": self.reached,
            "within_s": self.within_s,
            "share": round(self.share, 4),
            "delay_p50_s": q(0.5),
            "delay_p99_s": q(0.99),
            "delay_max_s": round(seen[-1], 3) if seen else None,
            "never": sum(d is None for d in self.delays_s.values()),
            "speed": self.speed,
        }


def measure_propagation(
    spec: RunSpec,
    config: LiveConfig,
    *,
    at_s: float,
    fields: dict[str, float],
    within_s: float = 60.0,
    say: Callable[[str], None] | None = None,
) -> Propagation:
    """Run ``spec`` live, change the tenant's policy at ``at_s``; see the module docstring."""
    duration = spec.duration_s or spec.scenario.duration_s
    if not 0 < at_s < duration:
        raise SimError(f"the change at {at_s}s must fall inside the run (0..{duration}s)")
    tell = say or (lambda _msg: None)
    tenant = spec.scenario.name
    with tempfile.TemporaryDirectory(prefix="binhai-prop-") as tmp:
        workdir = config.workdir or Path(tmp)
        with _services(config, workdir) as (dsn, url):
            stack = Stack(
                workdir / f"stack-{tenant}", dsn=dsn, mqtt_url=url, tenant=tenant,
                core_args=("--policy-period", "0"),
            )  # fmt: skip
            with stack:
                fleet = _LiveFleet(spec, config, url, workdir / f"devices-{tenant}")
                errors: list[BaseException] = []

                def drive() -> None:
                    try:
                        fleet.run()
                    except BaseException as exc:  # re-raised by the caller's thread
                        errors.append(exc)

                runner = threading.Thread(target=drive, name="live-fleet")
                tell(f"{tenant}: {len(fleet.sims)} devices live at {config.speed:g}x")
                runner.start()
                try:
                    out = _change(fleet, stack.core_addrs[0], tenant, at_s, fields, within_s)
                finally:
                    runner.join()
                    fleet.close()
                if errors:
                    raise errors[0]
    return out


def _change(
    fleet: _LiveFleet,
    core: str,
    tenant: str,
    at_s: float,
    fields: dict[str, float],
    within_s: float,
) -> Propagation:
    speed = fleet.cfg.speed
    while fleet.t0_ns == 0 or time.time_ns() < fleet.t0_ns + at_s / speed * 1e9:
        time.sleep(_POLL_S)
    members = [m for m in fleet.members if m.device is not None and m.stats()["connected"]]
    before = {m.source.device_id: int(m.stats()["policy_version"]) for m in members}
    out = Propagation(speed, within_s, dict.fromkeys(before))
    started = time.monotonic()
    req = protos.SetPolicyRequest(
        tenant=tenant, scope=protos.PolicyScope.POLICY_SCOPE_TENANT, fields=fields
    )
    waiting = {m.source.device_id: m for m in members}
    limit = started + 2 * within_s / speed
    # the RPC stores and sends one command per device: devices may run theirs before it returns
    with ThreadPoolExecutor(1) as pool:
        reply = pool.submit(_set_policy, core, req)
        while waiting and time.monotonic() < limit:
            for dev, m in list(waiting.items()):
                if int(m.stats()["policy_version"]) > before[dev]:
                    out.delays_s[dev] = (time.monotonic() - started) * speed
                    del waiting[dev]
            if reply.done() and reply.exception() is not None:
                break
            time.sleep(_POLL_S)
        out.commands = reply.result()
    return out


def _set_policy(core: str, req: protos.SetPolicyRequest) -> int:
    with grpc.insecure_channel(core) as ch:
        try:
            return int(protos.control_pb2_grpc.ControlStub(ch).SetPolicy(req, timeout=30).commands)
        except grpc.RpcError as exc:
            raise SimError(f"SetPolicy failed: {exc.code().name}: {exc.details()}") from exc
