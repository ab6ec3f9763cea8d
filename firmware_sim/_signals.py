"""Sensor physics for simulated terminals: a 3-axis wrist accelerometer with activities.

The wearer alternates idle, walking and running segments (the ground truth). Walking is a
~1.6-2.1 Hz gait with ~2 m/s² peaks, running ~2.5-3.2 Hz with ~6-8 m/s², idle is gravity plus
sensor noise. Values are in m/s², quantised to the ADC step of a ±16 g, 16-bit part.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

G = 9.80665
ADC_STEP = 16 * G / 32768  # m/s² per LSB

ACTIVITIES = ("idle", "walking", "running")
_GAIT = {"idle": (0.0, 0.0, 0.0), "walking": (1.6, 2.1, 2.0), "running": (2.5, 3.2, 7.0)}


@dataclass(frozen=True, slots=True)
class Segment:
    activity: str
    start_s: float
    end_s: float


class AccelModel:
    """Deterministic given ``seed``: ``take(n)`` returns the next n samples as (n, 3) float32."""

    def __init__(self, seed: int, rate_hz: float, *, mean_segment_s: float = 30.0) -> None:
        self.rate_hz = rate_hz
        self._rng = np.random.default_rng(seed)
        self._mean_segment_s = mean_segment_s
        self._t = 0.0  # seconds of signal produced
        self._phase = 0.0
        self.segments: list[Segment] = []
        self._new_segment()
        tilt = self._rng.normal(0, 0.3, 2)
        self._gravity = np.array([np.sin(tilt[0]), np.sin(tilt[1]), 1.0]) * G
        self._gravity *= G / np.linalg.norm(self._gravity)

    def _new_segment(self) -> None:
        activity = ACTIVITIES[int(self._rng.choice(3, p=[0.4, 0.4, 0.2]))]
        length = float(self._rng.exponential(self._mean_segment_s)) + 5.0
        self.segments.append(Segment(activity, self._t, self._t + length))
        lo, hi, amp = _GAIT[activity]
        self._freq = float(self._rng.uniform(lo, hi)) if hi else 0.0
        self._amp = amp * float(self._rng.uniform(0.8, 1.2))

    def take(self, n: int) -> np.ndarray:
        out = np.empty((n, 3), dtype=np.float32)
        done = 0
        dt = 1.0 / self.rate_hz
        while done < n:
            seg = self.segments[-1]
            k = min(n - done, max(1, int(np.ceil((seg.end_s - self._t) / dt))))
            t = np.arange(k) * dt
            phase = self._phase + 2 * np.pi * self._freq * t
            # A gait is a fundamental plus a second harmonic, mostly vertical.
            gait = self._amp * (np.sin(phase) + 0.35 * np.sin(2 * phase + 0.6))
            sig = np.empty((k, 3))
            sig[:, 0] = self._gravity[0] + 0.3 * gait
            sig[:, 1] = self._gravity[1] + 0.2 * gait
            sig[:, 2] = self._gravity[2] + gait
            sig += self._rng.normal(0, 0.05 + 0.03 * self._amp, (k, 3))
            out[done : done + k] = np.round(sig / ADC_STEP) * ADC_STEP
            self._phase = float(phase[-1] + 2 * np.pi * self._freq * dt) if k else self._phase
            self._t += k * dt
            done += k
            if self._t >= seg.end_s:
                self._new_segment()
        return out

    def activity_at(self, t_s: float) -> str:
        for seg in self.segments:
            if seg.start_s <= t_s < seg.end_s:
                return seg.activity
        return self.segments[-1].activity
