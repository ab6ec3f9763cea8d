"""The wearer of a wrist device: activity segments, wrist orientation and heart rate over time.

The wearer alternates idle, walking and running segments (mean 30 s + 5 s). Each segment has a
gait frequency and amplitude (walking 1.6-2.1 Hz, ~2 m/s²; running 2.5-3.2 Hz, ~7 m/s²), a
wrist orientation (gravity tilted by N(0, 0.3 rad) about x and y, turned over 1 s at the
segment start) and a heart-rate target (idle: rest + 0-5 bpm, walking rest + 20-35, running
110-150) that the heart rate approaches with a 20 s time constant. Everything is an analytic
function of time given the segment table — the gait phase and the cardiac phase (cycles) are
integrated in closed form — so both sensors of the device read the same body at any instant.
Segments are drawn in batches from the body's own RNG as time advances, so the table does not
depend on which sensor asked first.
"""

from __future__ import annotations

import numpy as np

ACTIVITIES = ("idle", "walking", "running")
_P = (0.4, 0.4, 0.2)
_GAIT_HZ = ((0.0, 0.0), (1.6, 2.1), (2.5, 3.2))
_GAIT_AMP = (0.0, 2.0, 7.0)  # m/s²
TAU_HR = 20.0  # s
TURN_S = 1.0  # s, wrist re-orientation at a segment start
_BATCH = 32


class Body:
    """Segment table of one wearer; ``covering(t_max)`` extends it to cover ``t_max``."""

    def __init__(self, rng: np.random.Generator, rest_bpm: float) -> None:
        self._rng = rng
        self.rest_bpm = rest_bpm
        self.start = np.zeros(0)
        self.end = np.zeros(0)
        self.activity = np.zeros(0, dtype=np.int64)
        self.gait_hz = np.zeros(0)
        self.gait_amp = np.zeros(0)
        self.gait_phase0 = np.zeros(0)  # rad at the segment start
        self.gravity = np.zeros((0, 3))  # unit vector, sensor frame
        self.prev_gravity = np.zeros((0, 3))
        self.hr_target = np.zeros(0)
        self.hr0 = np.zeros(0)  # bpm at the segment start
        self.cycles0 = np.zeros(0)  # cardiac cycles at the segment start
        self._extend()

    def covering(self, t_max: float) -> Body:
        while self.end[-1] <= t_max:
            self._extend()
        return self

    def index(self, t: np.ndarray) -> np.ndarray:
        """Segment index of each time in the sorted array ``t``."""
        self.covering(float(t[-1]))
        first, last = np.searchsorted(self.start, (t[0], t[-1]), side="right") - 1
        cuts = np.searchsorted(t, self.start[first + 1 : last + 1], side="left")
        counts = np.diff(np.concatenate([[0], cuts, [len(t)]]))
        return np.repeat(np.arange(first, last + 1), counts)

    def activity_at(self, t_s: float) -> str:
        return ACTIVITIES[int(self.activity[self.index(np.array([t_s]))[0]])]

    def _extend(self) -> None:
        rng, n = self._rng, _BATCH
        act = rng.choice(3, size=n, p=_P)
        length = rng.exponential(30.0, n) + 5.0
        lo = np.array([_GAIT_HZ[a][0] for a in act])
        hi = np.array([_GAIT_HZ[a][1] for a in act])
        hz = rng.uniform(lo, hi)
        amp = np.array([_GAIT_AMP[a] for a in act]) * rng.uniform(0.8, 1.2, n)
        tilt = rng.normal(0.0, 0.3, (n, 2))
        grav = np.column_stack([np.sin(tilt[:, 0]), np.sin(tilt[:, 1]), np.ones(n)])
        grav /= np.linalg.norm(grav, axis=1, keepdims=True)
        target = np.where(
            act == 0,
            self.rest_bpm + rng.uniform(0, 5, n),
            np.where(act == 1, self.rest_bpm + rng.uniform(20, 35, n), rng.uniform(110, 150, n)),
        )
        t0, ph0 = (float(self.end[-1]), self.gait_phase_at_end()) if len(self.end) else (0.0, 0.0)
        start = t0 + np.concatenate([[0.0], np.cumsum(length)[:-1]])
        phase0 = ph0 + np.concatenate([[0.0], np.cumsum(2 * np.pi * hz * length)[:-1]])
        prev = np.vstack([self.gravity[-1:] if len(self.end) else grav[:1], grav[:-1]])
        hr0 = np.empty(n)
        cyc0 = np.empty(n)
        h = float(self.hr_at_end()) if len(self.end) else float(target[0])
        c = float(self.cycles_at_end()) if len(self.end) else 0.0
        for i in range(n):  # one step per segment (~30 s), not per sample
            hr0[i], cyc0[i] = h, c
            decay = np.exp(-length[i] / TAU_HR)
            c += (target[i] * length[i] + (h - target[i]) * TAU_HR * (1 - decay)) / 60.0
            h = target[i] + (h - target[i]) * decay
        self.start = np.concatenate([self.start, start])
        self.end = np.concatenate([self.end, start + length])
        self.activity = np.concatenate([self.activity, act])
        self.gait_hz = np.concatenate([self.gait_hz, hz])
        self.gait_amp = np.concatenate([self.gait_amp, amp])
        self.gait_phase0 = np.concatenate([self.gait_phase0, phase0])
        self.gravity = np.vstack([self.gravity, grav])
        self.prev_gravity = np.vstack([self.prev_gravity, prev])
        self.gravity_t = np.ascontiguousarray(self.gravity.T)
        self.prev_gravity_t = np.ascontiguousarray(self.prev_gravity.T)
        self.hr_target = np.concatenate([self.hr_target, target])
        self.hr0 = np.concatenate([self.hr0, hr0])
        self.cycles0 = np.concatenate([self.cycles0, cyc0])

    def gait_phase_at_end(self) -> float:
        length = self.end[-1] - self.start[-1]
        return float(self.gait_phase0[-1] + 2 * np.pi * self.gait_hz[-1] * length)

    def hr_at_end(self) -> float:
        k = -1
        decay = np.exp(-(self.end[k] - self.start[k]) / TAU_HR)
        return float(self.hr_target[k] + (self.hr0[k] - self.hr_target[k]) * decay)

    def cycles_at_end(self) -> float:
        k = -1
        length = self.end[k] - self.start[k]
        h0, target = self.hr0[k], self.hr_target[k]
        decay = np.exp(-length / TAU_HR)
        return float(
            self.cycles0[k] + (target * length + (h0 - target) * TAU_HR * (1 - decay)) / 60
        )

    # -- per-sample views (k: segment index of each sample) -----------------------------------

    def gait_phase(self, t: np.ndarray, k: np.ndarray) -> np.ndarray:
        """Gait phase (rad, float64, unreduced) of each sample."""
        return self.gait_phase0[k] + 2 * np.pi * self.gait_hz[k] * (t - self.start[k])

    def orientation(self, t: np.ndarray, k: np.ndarray | None = None) -> np.ndarray:
        """(3, n) unit gravity direction (channel-major), turning over ``TURN_S`` at each
        segment start. ``k``: the segment index of each time, when known."""
        if k is None:
            k = self.index(t)
        g = np.take(self.gravity_t, k, axis=1)
        dt = t - self.start[k]
        turning = np.flatnonzero(dt < TURN_S)
        if len(turning):
            wt = dt[turning] / TURN_S
            kt = k[turning]
            blend = np.take(self.prev_gravity_t, kt, axis=1) * (1 - wt) + g[:, turning] * wt
            g[:, turning] = blend / np.linalg.norm(blend, axis=0)
        return g

    def heart(self, t: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(heart rate bpm, cardiac cycles since t = 0) from the activity alone."""
        dt = t - self.start[k]
        target, h0 = self.hr_target[k], self.hr0[k]
        decay = np.exp(-dt / TAU_HR)
        hr = target + (h0 - target) * decay
        cycles = self.cycles0[k] + (target * dt + (h0 - target) * TAU_HR * (1 - decay)) / 60.0
        return hr, cycles
