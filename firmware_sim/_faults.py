"""Faults: sensor faults applied to a stream's blocks, and the device-fault schedule.

Sensor faults act on samples ``i`` with ``t_on <= i / rate < t_off``, in two passes per block:

- before the ADC (on the physical value): ``drift`` adds an offset growing linearly to
  ``magnitude`` × the sensor's spread at ``t_off`` (a random sign per channel); ``spike`` adds
  3-8 isolated single-sample outliers of ``magnitude`` × spread (random channel and sign, never
  adjacent); ``clipping`` amplifies by ``magnitude`` about the sensor's center and saturates at
  center ± 0.5 × spread; ``noise_burst`` adds white noise so that the total is ``magnitude`` ×
  the sensor's own noise.
- after the ADC: ``stuck`` repeats the last sample before the onset; ``dropout`` gives NaN.

Random draws come from RNGs seeded by the injection (and the block index, for noise), never
from the physics' RNG: a fault changes its interval and nothing else.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from firmware_sim._catalog import DRAIN_PER_HOUR
from firmware_sim._models._base import SensorModel
from firmware_sim._schedule import Injection

_SPIKES = (3, 9)  # [lo, hi) spikes per fault
CLIP_HALF_WIDTH = 0.5  # × spread


class _Fault:
    def __init__(self, inj: Injection, rate: float, model: SensorModel) -> None:
        self.kind = inj.label.kind
        self.inj = inj
        self.a = math.ceil(inj.label.t_on * rate)
        self.b = max(self.a + 1, math.ceil(inj.label.t_off * rate))
        rng = np.random.default_rng((*inj.key, 11))
        ch = len(model.center)
        self.sign = np.where(rng.random(ch) < 0.5, -1.0, 1.0)
        self.frozen: np.ndarray | None = None
        if self.kind == "spike":
            n = int(rng.integers(*_SPIKES))
            slots = max(1, (self.b - self.a) // 2)  # even offsets: never two adjacent samples
            picks = rng.choice(slots, size=min(n, slots), replace=False)
            self.spikes = self.a + 2 * np.sort(picks)
            self.spike_ch = rng.integers(ch, size=len(self.spikes))
            self.spike_sign = np.where(rng.random(len(self.spikes)) < 0.5, -1.0, 1.0)


class SensorFaults:
    """The sensor faults of one stream (one sensor of one device)."""

    def __init__(self, model: SensorModel, injections: Sequence[Injection]) -> None:
        self.model = model
        self.faults = [_Fault(j, model.info.rate_hz, model) for j in injections]

    def _hits(self, i0: int, n: int, kinds: tuple[str, ...]) -> list[tuple[_Fault, int, int]]:
        """(fault, first, last+1) block-relative rows of each fault of ``kinds`` in the block."""
        out = []
        for f in self.faults:
            if f.kind in kinds and f.a < i0 + n and f.b > i0:
                out.append((f, max(f.a, i0) - i0, min(f.b, i0 + n) - i0))
        return out

    def before_adc(self, x: np.ndarray, i0: int, block: int) -> None:
        m = self.model
        for f, a, b in self._hits(i0, len(x), ("drift", "spike", "clipping", "noise_burst")):
            mag = f.inj.magnitude
            if f.kind == "drift":
                frac = (np.arange(i0 + a, i0 + b) - f.a + 1) / (f.b - f.a)
                x[a:b] += np.outer(frac, mag * m.spread * f.sign)
            elif f.kind == "spike":
                inside = (f.spikes >= i0 + a) & (f.spikes < i0 + b)
                rows = f.spikes[inside] - i0
                ch = f.spike_ch[inside]
                x[rows, ch] += f.spike_sign[inside] * mag * m.spread[ch]
            elif f.kind == "clipping":
                half = CLIP_HALF_WIDTH * m.spread
                amplified = m.center + mag * (x[a:b] - m.center)
                x[a:b] = np.clip(amplified, m.center - half, m.center + half)
            else:  # noise_burst
                rng = np.random.default_rng((*f.inj.key, 13, block))
                extra = m.noise_sd * math.sqrt(max(mag * mag - 1.0, 0.0))
                x[a:b] += rng.standard_normal((b - a, x.shape[1])) * extra

    def after_adc(self, x: np.ndarray, i0: int, last: np.ndarray | None) -> None:
        """``last``: the stream's previous sample (None at the very start)."""
        for f, a, b in self._hits(i0, len(x), ("stuck", "dropout")):
            if f.kind == "dropout":
                x[a:b] = np.nan
                continue
            if f.frozen is None:
                f.frozen = (x[a - 1] if a > 0 else last if last is not None else x[a]).copy()
            x[a:b] = f.frozen


class DeviceSchedule:
    """What the device faults of one device do over time (the runner applies it)."""

    def __init__(self, kind: str, battery: float, injections: Sequence[Injection]) -> None:
        self.battery0 = battery
        self.drain = DRAIN_PER_HOUR[kind] / 3600.0  # per second
        self.injections = tuple(j for j in injections if j.label.category == "device_fault")

    def _of(self, *kinds: str) -> list[Injection]:
        return [j for j in self.injections if j.label.kind in kinds]

    def online_at(self, t_s: float) -> bool:
        return not any(
            j.label.t_on <= t_s < j.label.t_off
            for j in self._of("partition", "reboot", "reconnect_storm")
        )

    def reboots(self) -> tuple[float, ...]:
        return tuple(j.label.t_on for j in self._of("reboot"))

    def clock_skew_s(self, t_s: float) -> float:
        return sum(
            j.magnitude for j in self._of("clock_skew") if j.label.t_on <= t_s < j.label.t_off
        )

    def battery_at(self, t_s: float) -> float:
        used = self.drain * max(t_s, 0.0)
        for j in self._of("battery_drain"):
            overlap = min(t_s, j.label.t_off) - j.label.t_on
            if overlap > 0:
                used += (j.magnitude - 1.0) * self.drain * overlap
        return min(max(self.battery0 - used, 0.0), 1.0)
