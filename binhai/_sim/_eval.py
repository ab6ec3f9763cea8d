"""``binhai sim eval``: every policy at every budget on the same signals, scored.

The all-cloud run comes first: its per-device byte rates define the budgets (a budget of 0.05
is 5 % of the bytes the device would send all-cloud) and its total is ``rho``'s denominator.
Policies with a knob are fitted to each budget on a prefix of the scenario (``fit_s`` seconds,
every device, no judging): ``periodic``'s ``k`` and the historians' deviation are the cheapest
settings whose bytes stay within the budget there. ``binhai`` needs no fitting: its token bucket
is the budget. Every run then covers the whole scenario. With ``policy``, the ``binhai`` runs
close the loop: the in-process cloud's policy engine steers each device's novelty threshold
(and its battery mode) every ``period_s`` of virtual time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from typing import Any

from binhai._sim._run import RunResult, RunSpec, run, worker_pool
from cloud_core import PolicyEngineConfig
from device_sdk import SynergyConfig
from firmware_sim import BUDGETED, POLICIES, Delivery, PolicyParams, Scenario, build_fleet, score

DEFAULT_BUDGETS = (0.01, 0.02, 0.05, 0.1, 0.2)
Progress = Callable[[str], None]


def _bytes(r: RunResult) -> int:
    return sum(d.bytes_up for d in r.devices)


def _rates(r: RunResult) -> dict[str, float]:
    return {d.device: d.bytes_up / r.duration_s for d in r.devices}


class Evaluation:
    def __init__(
        self,
        scenario: Scenario,
        *,
        workers: int = 1,
        step_s: float = 1.0,
        fit_s: float = 300.0,
        progress: Progress | None = None,
        policy: PolicyEngineConfig | None = None,
        synergy: SynergyConfig | None = None,
    ) -> None:
        self.scenario = scenario
        #: the synergy uplink's settings at boot in the ``binhai`` runs (None: the SDK's)
        self.synergy = synergy or SynergyConfig()
        self.workers = workers
        self.step_s = step_s
        self.fit_s = min(fit_s, scenario.duration_s)
        #: the cloud's policy engine in the ``binhai`` runs (None: devices keep their settings)
        self.policy = policy
        self._say = progress or (lambda _msg: None)
        self._labels = [lb for dev in build_fleet(scenario) for lb in dev.labels]
        self._prefix_all_cloud: int | None = None
        self.all_cloud: RunResult | None = None
        self._pool: ProcessPoolExecutor | None = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __enter__(self) -> Evaluation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, params: PolicyParams, **kw: Any) -> RunResult:
        spec = RunSpec(self.scenario, params, step_s=self.step_s, **kw)
        if self.workers > 1 and self._pool is None:
            self._pool = worker_pool(self.workers)
        return run(spec, workers=self.workers, pool=self._pool)

    def baseline(self) -> RunResult:
        if self.all_cloud is None:
            self._say("all_cloud")
            self.all_cloud = self._run(PolicyParams("all_cloud"))
        return self.all_cloud

    # -- fitting -----------------------------------------------------------------------------

    def _prefix_rho(self, params: PolicyParams) -> float:
        if self._prefix_all_cloud is None:
            ac = self._run(PolicyParams("all_cloud"), duration_s=self.fit_s, judge=False)
            self._prefix_all_cloud = _bytes(ac)
        r = self._run(params, duration_s=self.fit_s, judge=False)
        return _bytes(r) / self._prefix_all_cloud

    def fit(self, name: str, budget: float) -> PolicyParams:
        """The policy's knob for ``budget`` (see the module docstring)."""
        if name == "periodic":
            k = max(1, math.floor(1.0 / budget))
            for _ in range(6):
                rho = self._prefix_rho(PolicyParams(name, budget, period=k))
                if rho <= budget:
                    break
                k = max(k + 1, math.ceil(k * rho / budget))
            return PolicyParams(name, budget, period=k)
        if name in ("send_on_delta", "swinging_door"):
            lo, hi = -3.0, 3.0  # log10 of the deviation, in units of the channel's spread
            if self._prefix_rho(PolicyParams(name, budget, deviation=10**hi)) > budget:
                return PolicyParams(name, budget, deviation=10**hi)
            for _ in range(8):
                mid = (lo + hi) / 2
                if self._prefix_rho(PolicyParams(name, budget, deviation=10**mid)) <= budget:
                    hi = mid
                else:
                    lo = mid
            return PolicyParams(name, budget, deviation=round(10**hi, 4))
        return PolicyParams(name, budget)

    # -- running and scoring -----------------------------------------------------------------

    def evaluate(
        self, policies: Sequence[str] = POLICIES, budgets: Sequence[float] = DEFAULT_BUDGETS
    ) -> list[dict[str, Any]]:
        base = self.baseline()
        rows: list[dict[str, Any]] = []
        for name in policies:
            if name not in POLICIES:
                raise ValueError(f"unknown policy {name!r} (one of {', '.join(POLICIES)})")
            for budget in budgets if name in BUDGETED else [None]:
                if name == "all_cloud":
                    result = base
                else:
                    params = self.fit(name, budget) if budget is not None else PolicyParams(name)
                    self._say(f"{name} @ {budget}" if budget is not None else name)
                    spec_kw: dict[str, Any] = {}
                    if name == "binhai":
                        spec_kw["all_cloud_bps"] = _rates(base)
                        spec_kw["policy"] = self.policy
                        spec_kw["synergy"] = self.synergy
                    result = self._run(params, **spec_kw)
                rows.append(self.score(result, budget))
        return rows

    def score(self, r: RunResult, budget: float | None) -> dict[str, Any]:
        base = self.baseline()
        window_s = {(d.device, s): w for d in r.devices for s, w in d.window_s.items()}
        delivery = Delivery(
            sum(d.batches_created for d in r.devices),
            sum(d.batches_stored for d in r.devices),
            sum(d.duplicates for d in r.devices),
            sum(d.evicted for d in r.devices),
            sum(d.queued for d in r.devices),
        )
        figures = score(
            labels=self._labels,
            alerts=r.alerts,
            anomalous=r.anomalous,
            window_s=window_s,
            bytes_up=_bytes(r),
            all_cloud_bytes=_bytes(base),
            delivery=delivery,
            device_hours=len(r.devices) * r.duration_s / 3600.0,
        )
        p = r.params
        params: dict[str, Any] = {}
        if p.name == "periodic":
            params["period"] = p.period
        elif p.name in ("send_on_delta", "swinging_door"):
            params["deviation"] = p.deviation
        rho = figures["rho"]
        return {
            "policy": p.name,
            "budget": budget,
            **figures,
            # a historian that keeps only the first and last sample of every window still pays
            # the framing of every window: some budgets are out of its reach
            "meets_budget": budget is None or (rho is not None and rho <= budget),
            "params": params,
            "device_windows": r.device_windows,
            "policy_changes": len(r.policy_changes),
            "cpu_s": round(r.cpu_s, 2),
            "wall_s": round(r.wall_s, 2),
        }


def with_seed(scenario: Scenario, seed: int | None) -> Scenario:
    return scenario if seed is None else replace(scenario, seed=seed)
