"""A rotating machine: a 3-axis vibration sensor (m/s², ±16 g 16-bit) and a temperature probe.

The load wanders slowly between ~0.05 and ~0.95 (two sinusoids, periods 10-30 min and 2-7 min).
The shaft turns at f0 (20-30 Hz per machine) × (0.98 + 0.04 × load). vib = 1 g of gravity on z
(the mounting) + the 1×, 2×, 3× shaft harmonics (per-machine amplitudes 0.5-2, 0.2-1,
0.1-0.5 m/s², per-axis weights and phases, all scaled by 0.6 + 0.8 × load) + broadband noise
(0.15-0.35 m/s²). temp (°C, 0.0625 °C steps) = ambient (20-28 °C) + 15-35 °C × load seen
through the housing's thermal lag (first order, 5-15 min) + noise (0.03 °C).

Events: ``bearing_fault`` (vib) — an outer-race defect: lines at BPFO = r × shaft (r = 3.1-3.6
per machine) and its 2nd and 3rd multiples (those below 0.45 × the sample rate), radial axes
strongest, the fundamental rising from 15 % to ``magnitude`` m/s² over the event; ``overheat``
(temp) — ``magnitude`` °C more, ramping up over the first 40 % of the event and down over the
last 40 %.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from firmware_sim._catalog import ACCEL_STEP, G, SensorInfo
from firmware_sim._models._base import SensorModel, during, fsin, trapezoid
from firmware_sim._schedule import Injection

_BPFO_LINES = (1.0, 0.6, 0.35)
_RADIAL = np.array([1.0, 0.8, 0.4])
OVERHEAT_RAMP = 0.4  # of the event's duration, up and down


class Machine:
    """The load profile and shaft shared by the machine's sensors."""

    def __init__(self, params: np.random.Generator, injections: Sequence[Injection]) -> None:
        self.f0 = float(params.uniform(20, 30))
        self.load_amp = np.array([0.3, 0.15])
        self.load_w = 2 * np.pi / np.array([params.uniform(600, 1800), params.uniform(120, 400)])
        self.load_ph = params.uniform(0, 2 * np.pi, 2)
        self.bpfo = float(params.uniform(3.1, 3.6))
        self.injections = tuple(injections)

    def load(self, t: np.ndarray) -> np.ndarray:
        return 0.5 + fsin(np.outer(t, self.load_w) + self.load_ph) @ self.load_amp

    def shaft_cycles(self, t: np.ndarray) -> np.ndarray:
        """∫ f0 (0.98 + 0.04 load) dt, in revolutions."""
        integral = 0.5 * t - (
            fsin(np.outer(t, self.load_w) + self.load_ph + np.pi / 2)
            @ (self.load_amp / self.load_w)
        )
        return self.f0 * (0.98 * t + 0.04 * integral)

    def shaft_hz(self, t: np.ndarray) -> np.ndarray:
        return self.f0 * (0.98 + 0.04 * self.load(t))


class MachineVib(SensorModel):
    def __init__(self, info: SensorInfo, machine: Machine, params: np.random.Generator) -> None:
        amps = np.array(
            [params.uniform(0.5, 2.0), params.uniform(0.2, 1.0), params.uniform(0.1, 0.5)]
        )
        weights = params.uniform(0.3, 1.0, (3, 3))  # harmonic × axis
        theta = params.uniform(0, 2 * np.pi, (3, 3))
        self.noise = float(params.uniform(0.15, 0.35))
        # sin(kφ + θ) = sin kφ cos θ + cos kφ sin θ: one matrix maps [sin kφ, cos kφ]_k to axes
        self.mix = np.empty((6, 3))
        self.mix[0::2] = (amps[:, None] * weights) * np.cos(theta)
        self.mix[1::2] = (amps[:, None] * weights) * np.sin(theta)
        rms = np.sqrt(((amps[:, None] * weights) ** 2).sum(axis=0) / 2 + self.noise**2)
        full = 32768 * ACCEL_STEP
        super().__init__(
            info,
            center=(0, 0, G),
            spread=rms,
            noise_sd=(self.noise,) * 3,
            lo=(-full,) * 3,
            hi=(full - ACCEL_STEP,) * 3,
        )
        self.m = machine

    def render(self, i0: int, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        phi = 2 * np.pi * self.m.shaft_cycles(t)
        s1, c1 = fsin(phi), fsin(phi + np.pi / 2)
        s2, c2 = 2 * s1 * c1, c1 * c1 - s1 * s1
        s3, c3 = s1 * (3 - 4 * s1 * s1), c1 * (4 * c1 * c1 - 3)
        x = np.column_stack([s1, c1, s2, c2, s3, c3]) @ self.mix
        x *= (0.6 + 0.8 * self.m.load(t))[:, None]
        x += self.noise * rng.standard_normal(x.shape)
        x[:, 2] += G
        for sl, inj in during(t, self.m.injections, "bearing_fault"):
            x[sl] += self._bearing(t[sl], phi[sl], inj)
        return x

    def _bearing(self, ts: np.ndarray, phi: np.ndarray, inj: Injection) -> np.ndarray:
        on, off = inj.label.t_on, inj.label.t_off
        grow = inj.magnitude * (0.15 + 0.85 * np.clip((ts - on) / (off - on), 0.0, 1.0))
        top = self.m.shaft_hz(ts).max()
        out = np.zeros((len(ts), 3))
        for m, rel in enumerate(_BPFO_LINES, start=1):
            if m * self.m.bpfo * top < 0.45 * self.info.rate_hz:
                out += (rel * grow * fsin(m * self.m.bpfo * phi))[:, None] * _RADIAL
        return out


class MachineTemp(SensorModel):
    def __init__(self, info: SensorInfo, machine: Machine, params: np.random.Generator) -> None:
        self.ambient = float(params.uniform(20, 28))
        self.gain = float(params.uniform(15, 35))  # °C at full load
        tau = float(params.uniform(300, 900))
        wt = machine.load_w * tau
        self.lag_amp = machine.load_amp / np.sqrt(1 + wt**2)  # a first-order lag of each sinusoid
        self.lag_ph = machine.load_ph - np.arctan(wt)
        center = self.ambient + 0.5 * self.gain
        spread = max(1.0, self.gain * float(np.sqrt((self.lag_amp**2).sum() / 2)))
        super().__init__(
            info, center=(center,), spread=(spread,), noise_sd=(0.03,), lo=(-40.0,), hi=(150.0,)
        )
        self.m = machine

    def render(self, i0: int, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        lagged = 0.5 + fsin(np.outer(t, self.m.load_w) + self.lag_ph) @ self.lag_amp
        y = self.ambient + self.gain * lagged + 0.03 * rng.standard_normal(len(t))
        for sl, inj in during(t, self.m.injections, "overheat"):
            on, off = inj.label.t_on, inj.label.t_off
            y[sl] += inj.magnitude * trapezoid(t[sl], on, off, OVERHEAT_RAMP * (off - on))
        return y[:, None]
