"""A wrist device: 3-axis accelerometer (m/s², ±16 g 16-bit) and a PPG front end (counts).

accel = gravity (1 g along the wrist's orientation, see :mod:`._body`) + gait (fundamental and
second harmonic, mostly on z) + fidgeting (3 sinusoids of 0.2-1.5 Hz, 0.05-0.15 m/s² each at
rest, twice that moving) + per-axis calibration offsets (±0.1 m/s²) + white noise (0.05 m/s²
+ 3 % of the gait amplitude).

ppg = DC (18-30 k counts) + pulse (systolic and diastolic Gaussians on the cardiac phase,
800-2000 counts, amplitude-modulated 8 % by breathing) + respiration baseline (0.2-0.33 Hz,
100-250 counts) + slow wander + motion artefacts (the gait, 20 % of the pulse walking, 60 %
running) + white noise (15 counts); 16-bit, rails 0 … 65535. The heart rate follows activity
(rest 55-75 bpm) with respiratory sinus arrhythmia (2-5 bpm).

Events: ``fall`` — 0.35 s of free fall, a 0.1 s half-sine impact of ``magnitude`` g along the
new vertical, then lying still with gravity on another axis, getting up over the last 2 s;
``tremor`` — the wearer at rest, a 4-6 Hz oscillation of ``magnitude`` m/s² (ramped over
1.5 s) along a random mostly horizontal direction; ``arrhythmia`` (ppg) — the heart rate
``magnitude`` bpm higher, and in 60 % of episodes beat intervals irregular by up to ±30 %.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from firmware_sim._catalog import ACCEL_STEP, G, SensorInfo
from firmware_sim._models._base import SensorModel, during, fsin, sines, trapezoid, unit
from firmware_sim._models._body import Body
from firmware_sim._schedule import Injection

_GAIT_AXES = np.array([0.3, 0.2, 1.0])
_FIDGET = np.array([0.15, 0.3, 0.3])  # fidgeting scale by activity (idle, walking, running)
FREE_FALL_S = 0.35
IMPACT_S = 0.1
GET_UP_S = 2.0
TREMOR_RAMP_S = 1.5


def _wrapped(cycles: np.ndarray) -> np.ndarray:
    """``cycles`` wrapped into [-0.5, 0.5)."""
    shifted = cycles + 0.5
    return shifted - np.floor(shifted) - 0.5


def _rng(inj: Injection) -> np.random.Generator:
    return np.random.default_rng((*inj.key, 7))


class Wrist:
    """The wearer and the device parameters both sensors share."""

    def __init__(
        self,
        params: np.random.Generator,
        timeline: np.random.Generator,
        injections: Sequence[Injection],
    ) -> None:
        self.body = Body(timeline, rest_bpm=float(params.uniform(55, 75)))
        self.offset = params.uniform(-0.1, 0.1, 3)
        self.fidget = (
            params.uniform(0.3, 1.0, 3),
            params.uniform(0.2, 1.5, 3),
            params.uniform(0, 2 * np.pi, 3),
        )
        self.fidget_axes = unit(params.normal(0, 1, 3))
        self.breath_hz = float(params.uniform(0.2, 0.33))
        self.rsa_bpm = float(params.uniform(2, 5))
        self.ppg_dc = float(params.uniform(18_000, 30_000))
        self.pulse = float(params.uniform(800, 2000))
        self.breath_counts = float(params.uniform(100, 250))
        self.wander = (
            params.uniform(100, 300, 2),
            1 / params.uniform(60, 200, 2),
            params.uniform(0, 2 * np.pi, 2),
        )
        self.artefact_phase = float(params.uniform(0, 2 * np.pi))
        self.injections = tuple(injections)

    def moving(self, t: np.ndarray) -> np.ndarray | float:
        """1 where the wearer moves as the activity says, 0 during a fall or a tremor (a scalar
        1.0 when neither touches ``t``)."""
        gate: np.ndarray | float = 1.0
        for kind in ("fall", "tremor"):
            for sl, _ in during(t, self.injections, kind):
                if isinstance(gate, float):
                    gate = np.ones_like(t)
                gate[sl] = 0.0
        return gate


class WristAccel(SensorModel):
    def __init__(self, info: SensorInfo, wrist: Wrist) -> None:
        full = 32768 * ACCEL_STEP
        super().__init__(
            info,
            center=(0, 0, 0),
            spread=(3, 3, 3),
            noise_sd=(0.05,) * 3,
            lo=(-full,) * 3,
            hi=(full - ACCEL_STEP,) * 3,
        )
        self.w = wrist
        axes = np.column_stack([G * np.eye(3), _GAIT_AXES, wrist.fidget_axes, wrist.offset])
        self.mix = axes.astype(np.float32)

    def activity_at(self, t_s: float) -> str:
        return self.w.body.activity_at(t_s)

    def render(self, i0: int, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        w, body = self.w, self.w.body
        k = body.index(t)
        gate = w.moving(t)
        up = body.orientation(t, k)  # (3, n)
        tremors = list(during(t, w.injections, "tremor"))
        for sl, inj in tremors:  # the arm rests as it was at the onset
            up[:, sl] = body.orientation(np.array([inj.label.t_on]))
        falls = list(during(t, w.injections, "fall"))
        for sl, inj in falls:
            up[:, sl] = self._fall_gravity(t[sl], up[:, sl], inj)
        phase = body.gait_phase(t, k)
        amp = (body.gait_amp[k] * gate).astype(np.float32)
        parts = np.empty((6, len(t)), dtype=np.float32)  # gravity (3 rows), gait, fidget, 1
        parts[:3] = up
        parts[3] = amp * (fsin(phase) + np.float32(0.35) * fsin(2 * phase + 0.6))
        parts[4] = _FIDGET[body.activity[k]] * gate * sines(t, *w.fidget)
        parts[5] = 1.0
        xt = rng.standard_normal((3, len(t)), dtype=np.float32)
        xt *= np.float32(0.05) + np.float32(0.03) * amp
        xt += self.mix @ parts  # (3, 6): each part's direction and size on the three axes
        x = xt.T
        for sl, inj in falls:
            x[sl] += self._impact(t[sl], inj)
        for sl, inj in tremors:
            x[sl] += self._tremor(t[sl], inj)
        return x

    @staticmethod
    def _lying(inj: Injection) -> np.ndarray:
        """Gravity's direction once down: on the side (x) or on the back or front (y)."""
        rng = _rng(inj)
        down = np.zeros(3)
        axis = int(rng.integers(2))
        down[axis] = 1.0 if rng.random() < 0.5 else -1.0
        return unit(down + rng.normal(0, 0.15, 3))

    def _fall_gravity(self, ts: np.ndarray, up: np.ndarray, inj: Injection) -> np.ndarray:
        """(3, m) gravity over the fall: ~0 in free fall, lying, then turning back up."""
        lying = self._lying(inj)[:, None]
        tau = ts - inj.label.t_on
        g = np.where(tau < FREE_FALL_S, 0.1 * up, lying)
        rising = np.flatnonzero(ts >= inj.label.t_off - GET_UP_S)
        if len(rising):
            wt = (ts[rising] - (inj.label.t_off - GET_UP_S)) / GET_UP_S
            blend = lying * (1 - wt) + up[:, rising] * wt
            g[:, rising] = blend / np.linalg.norm(blend, axis=0)
        return g

    def _impact(self, ts: np.ndarray, inj: Injection) -> np.ndarray:
        """(m, 3): a half-sine of ``magnitude`` g along the new vertical as the body lands."""
        tau = ts - inj.label.t_on - FREE_FALL_S
        pulse = np.where((tau >= 0) & (tau < IMPACT_S), np.sin(np.pi * tau / IMPACT_S), 0.0)
        return (inj.magnitude * G * pulse)[:, None] * self._lying(inj)

    def _tremor(self, ts: np.ndarray, inj: Injection) -> np.ndarray:
        """(m, 3): 4-6 Hz with a slow ±0.15 Hz wander, ramped in and out."""
        rng = _rng(inj)
        hz = float(rng.uniform(4.0, 6.0))
        direction = unit(np.array([rng.normal(0, 1), rng.normal(0, 1), rng.normal(0, 0.3)]))
        wobble = float(rng.uniform(0.05, 0.2))  # Hz
        env = trapezoid(ts, inj.label.t_on, inj.label.t_off, TREMOR_RAMP_S)
        phase = 2 * np.pi * hz * ts + 0.15 / wobble * fsin(2 * np.pi * wobble * ts)
        return (inj.magnitude * env * fsin(phase))[:, None] * direction


class WristPpg(SensorModel):
    def __init__(self, info: SensorInfo, wrist: Wrist) -> None:
        super().__init__(
            info,
            center=(wrist.ppg_dc,),
            spread=(wrist.pulse,),
            noise_sd=(15.0,),
            lo=(0.0,),
            hi=(65535.0,),
        )
        self.w = wrist

    def render(self, i0: int, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        w, body = self.w, self.w.body
        k = body.index(t)
        _, cycles = body.heart(t, k)
        breath_phase = 2 * np.pi * w.breath_hz * t
        breath = fsin(breath_phase)
        cycles -= w.rsa_bpm / (60 * 2 * np.pi * w.breath_hz) * fsin(breath_phase + np.pi / 2)
        for inj in w.injections:  # an episode's extra beats stay counted after it ends
            if inj.label.kind == "arrhythmia" and inj.label.t_on <= t[-1]:
                a = int(np.searchsorted(t, inj.label.t_on))
                cycles[a:] += self._arrhythmia(t[a:], inj)
        d1 = _wrapped(cycles - 0.15)  # cardiac phase from the systolic peak, in [-0.5, 0.5)
        d2 = _wrapped(cycles - 0.42)  # ... from the diastolic peak
        pulse = np.exp(-0.5 * (d1 / 0.055) ** 2) + 0.45 * np.exp(-0.5 * (d2 / 0.09) ** 2)
        y = w.ppg_dc + w.pulse * pulse * (1 + 0.08 * breath)
        y += w.breath_counts * fsin(breath_phase + 1.0) + sines(t, *w.wander)
        gait = body.gait_amp[k] * w.moving(t) / 7.0  # 0 idle, ~0.3 walking, ~1 running
        y += 0.6 * w.pulse * gait * fsin(body.gait_phase(t, k) + w.artefact_phase)
        y += 15.0 * rng.standard_normal(len(t))
        return y[:, None]

    def _arrhythmia(self, ts: np.ndarray, inj: Injection) -> np.ndarray:
        """Extra cardiac cycles since the onset: the rate jump and, maybe, irregular beats."""
        rng = _rng(inj)
        on = inj.label.t_on
        tc = np.minimum(ts, inj.label.t_off) - on
        extra = inj.magnitude / 60.0 * tc
        if rng.random() < 0.6:
            hz = rng.uniform(0.25, 1.1, 3)
            ph = rng.uniform(0, 2 * np.pi, 3)
            rate = (self.w.body.rest_bpm + inj.magnitude) / 60.0
            amp = 0.1 * rate / (2 * np.pi * hz)  # each term moves the rate by up to ±10 %
            for a, f, p in zip(amp, hz, ph, strict=True):
                extra += a * (fsin(2 * np.pi * f * tc + p) - np.sin(p))
        return extra
