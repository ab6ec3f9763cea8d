"""When events and faults happen: every ``[[events]]``/``[[faults]]`` entry drawn per device.

Deterministic: each (entry, device) pair draws from its own RNG seeded by (scenario seed,
section, entry index, device index), so adding an entry or a device group never moves what the
others drew. Explicit entries (``at_s``) are placed first; an explicit entry that overlaps an
earlier one on the same device and sensor is an error naming it. Rate entries then draw a
Poisson count over the scenario, a duration, a magnitude, a sensor and a start; a start that
would overlap an earlier label on the same device and sensor (closer than one window, at least
2 s) is re-drawn up to ``_REDRAWS`` times and then skipped.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from firmware_sim._catalog import (
    DEVICE_FAULT,
    EVENT,
    KINDS,
    MIN_FAULT_S,
    SENSOR_FAULT,
    Label,
    SensorInfo,
    applies_to,
)
from firmware_sim._errors import ScenarioError

if TYPE_CHECKING:
    from firmware_sim._scenario import InjectionSpec, Scenario

_REDRAWS = 20
_SECTION = {"events": 1, "faults": 2}


@dataclass(frozen=True, slots=True)
class Injection:
    """A drawn event or fault: its ``label``, resolved ``magnitude`` (0 when the kind has none)
    and ``key``, the seed of the RNG its own parameters are drawn from (e.g. a tremor's
    frequency), so a model draws them identically however the stream is taken."""

    label: Label
    magnitude: float
    key: tuple[int, ...]


def schedule(scenario: Scenario) -> dict[str, list[Injection]]:
    """Injections per device id, each list sorted by ``t_on``."""
    devices = scenario.device_ids()
    sensors = {d: scenario.devices[g].sensors() for d, _, g in devices}
    out: dict[str, list[Injection]] = {d: [] for d, _, _ in devices}
    busy: dict[tuple[str, str], list[tuple[float, float, str]]] = defaultdict(list)
    entries = scenario.events + scenario.faults
    for explicit in (True, False):
        for spec in entries:
            if (spec.at_s is not None) != explicit:
                continue
            for index, (dev, kind, _) in enumerate(devices):
                if _targets(spec, dev, kind):
                    drawn = _draw(scenario, spec, index, dev, kind, sensors[dev], busy)
                    out[dev].extend(drawn)
    for injections in out.values():
        injections.sort(key=lambda j: (j.label.t_on, j.label.t_off, j.label.sensor, j.label.kind))
    return out


def _targets(spec: InjectionSpec, dev: str, kind: str) -> bool:
    if spec.device is not None:
        return dev == spec.device
    if spec.devices is not None and kind not in spec.devices:
        return False
    return applies_to(KINDS[spec.kind], kind)


def _draw(
    sc: Scenario,
    spec: InjectionSpec,
    index: int,
    dev: str,
    dev_kind: str,
    sensors: tuple[SensorInfo, ...],
    busy: dict[tuple[str, str], list[tuple[float, float, str]]],
) -> list[Injection]:
    kind = KINDS[spec.kind]
    base_key = (sc.seed, _SECTION[spec.section], spec.index, index)
    rng = np.random.default_rng(base_key)
    if spec.at_s is not None:
        if spec.at_s >= sc.duration_s:  # the run was shortened below this entry
            return []
        n = 1
    else:
        n = int(rng.poisson((spec.rate_per_device_hour or 0.0) * sc.duration_s / 3600.0))
    out = []
    for occurrence in range(n):
        sensor = _sensor(spec, dev_kind, sensors, rng)
        if sensor is None:
            continue
        info = next((s for s in sensors if s.name == sensor), None)
        duration = _duration(spec, info, rng)
        magnitude = _magnitude(spec, rng)
        slot = (dev, sensor or f"#{spec.kind}")
        guard = max(2.0, info.window / info.rate_hz) if info else 0.0
        t_on = _start(sc, spec, duration, guard, busy[slot], rng, f"{dev} {sensor}".strip())
        if t_on is None:
            continue
        t_off = min(t_on + duration, sc.duration_s)
        busy[slot].append((t_on, t_off, spec.key))
        label = Label(dev, sensor, spec.kind, kind.category, float(t_on), float(t_off))
        out.append(Injection(label, magnitude, (*base_key, occurrence)))
    return out


def _sensor(
    spec: InjectionSpec, dev_kind: str, sensors: tuple[SensorInfo, ...], rng: np.random.Generator
) -> str | None:
    """The sensor this occurrence changes (``""`` for device faults; None: not on this device)."""
    kind = KINDS[spec.kind]
    if kind.category == DEVICE_FAULT:
        return ""
    if kind.category == EVENT:
        target = kind.targets[dev_kind]
        return target if spec.sensor in (None, target) else None
    names = [s.name for s in sensors]
    if spec.sensor is not None:
        return spec.sensor if spec.sensor in names else None
    return names[int(rng.integers(len(names)))]


def _duration(spec: InjectionSpec, info: SensorInfo | None, rng: np.random.Generator) -> float:
    kind = KINDS[spec.kind]
    drawn = float(rng.uniform(*kind.duration))  # always drawn: the RNG sequence stays fixed
    if spec.kind == "reconnect_storm":  # each device is back within the storm's window
        window = spec.duration_s or kind.duration[1]
        return float(rng.uniform(min(0.5, window), window))
    if spec.duration_s is not None:
        return spec.duration_s
    if spec.kind == "clock_skew":
        return float("inf")  # until the end of the scenario
    if kind.category == SENSOR_FAULT and info is not None:
        return max(MIN_FAULT_S, drawn * info.window / info.rate_hz)
    return drawn


def _magnitude(spec: InjectionSpec, rng: np.random.Generator) -> float:
    kind = KINDS[spec.kind]
    if kind.magnitude is None:
        return 0.0
    drawn = float(rng.uniform(*kind.magnitude))
    sign = 1.0 if rng.random() < 0.5 else -1.0
    if spec.magnitude is not None:
        return spec.magnitude
    return sign * drawn if spec.kind == "clock_skew" else drawn


def _start(
    sc: Scenario,
    spec: InjectionSpec,
    duration: float,
    guard: float,
    taken: list[tuple[float, float, str]],
    rng: np.random.Generator,
    where: str,
) -> float | None:
    def clash(t: float) -> str | None:
        end = t + duration
        return next((k for a, b, k in taken if not (end + guard <= a or t >= b + guard)), None)

    if spec.at_s is not None:
        other = clash(spec.at_s)
        if other is not None:
            raise ScenarioError(sc.source, spec.key, f"overlaps {other} on {where}")
        return spec.at_s
    latest = sc.duration_s - (duration if math.isfinite(duration) else 0.0)
    if latest < 0:  # longer than the (shortened) run
        return None
    for _ in range(_REDRAWS):
        t = float(rng.uniform(0.0, latest))
        if clash(t) is None:
            return t
    return None
