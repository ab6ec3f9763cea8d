"""Screening of a whole device: every stream's :class:`Screen`, plus the checks that need more.

:class:`DeviceScreen` keeps one :class:`Screen` per sensor and adds:

* ``LINE`` on streams whose profile watches spectral lines (vibration): a
  :class:`LineWatch` on the samples — new lines the stream's baseline spectrum lacks;
* ``RATE`` on pulse streams (PPG): a pulse the wearer's activity does not explain — the
  device's accelerometer says the wearer was at rest through the PPG window and
  ``rest_context_s`` before it, and the pulse rate (the dominant frequency) is above
  ``rest_bpm`` or the beat spectrum is spread (``spectral_flatness`` above ``irregular``).

Devices run it on every window (they always have the samples); the cloud runs it on the windows
whose samples it received. Pure, no I/O, state bounded per stream.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from kernels import _screen as scr
from kernels._features import FEATURE_NAMES

__all__ = ["RATE", "DeviceScreen", "ScreenConfig", "Screened"]

RATE = 1024
scr.FLAG_NAMES[RATE] = "rate"
_F = len(FEATURE_NAMES)
_STD = FEATURE_NAMES.index("std")
_DOM = FEATURE_NAMES.index("dominant_freq")
_FLAT = FEATURE_NAMES.index("spectral_flatness")
_LINE_SENSORS = ("vib",)
_PULSE_SENSORS = ("ppg",)
_ACTIVITY_SENSORS = ("accel",)


@dataclass(frozen=True, slots=True)
class ScreenConfig:
    #: Accelerometer at rest: every axis' std below this (m/s²).
    idle_std: float = 0.5
    #: Pulse rate (bpm) above which a resting wearer's pulse is unusual.
    rest_bpm: float = 125.0
    #: Spectral flatness of a resting PPG window above which the pulse is irregular.
    irregular: float = 0.25
    #: Seconds of rest before a PPG window that the check requires.
    rest_context_s: float = 2.56


@dataclass(frozen=True, slots=True)
class Screened:
    """A window's flags, a score (the new-line ratio, or 1 when flagged), how far channel 0's
    level is above its reference (what tells an overheat from a drift), and whether every
    check that needs a baseline could run (``warm``: the stream's level reference is settled
    and, where lines are watched, the line baseline too)."""

    flags: int
    score: float
    level_delta: float
    warm: bool


@dataclass
class _Stream:
    screen: scr.Screen
    lines: scr.LineWatch | None = None


@dataclass
class _Activity:
    spans: deque[tuple[int, int, bool]] = field(default_factory=lambda: deque(maxlen=16))

    def resting(self, start: int, end: int) -> bool:
        """Rest was seen from ``start`` to ``end``, without a gap or a moving window."""
        if any(b > start and a < end and not idle for a, b, idle in self.spans):
            return False
        at = start
        for a, b in sorted((a, b) for a, b, idle in self.spans if b > start and a < end):
            if a > at:
                return False
            at = max(at, b)
        return at >= end


class DeviceScreen:
    """The screening state of one device, across its sensors."""

    def __init__(self, config: ScreenConfig | None = None) -> None:
        self.config = config or ScreenConfig()
        self._streams: dict[str, _Stream] = {}
        self._activity = _Activity()

    def stream(self, sensor: str, channels: int) -> scr.Screen:
        st = self._streams.get(sensor)
        if st is None or st.screen.channels != channels:
            st = _Stream(scr.Screen(channels, scr.profile_for(sensor)))
            self._streams[sensor] = st
        return st.screen

    def screen(
        self,
        sensor: str,
        t0_ns: int,
        rate_hz: float,
        n_samples: int,
        features: np.ndarray,
        samples: np.ndarray | None,
    ) -> Screened:
        """Flags of one window of ``sensor``: ``n_samples`` per channel from ``t0_ns``, its
        ``features`` (channels * F,) and its samples (channels, n) when at hand.

        Windows of one sensor come in time order; the baselines learn from unflagged ones.
        """
        f = np.asarray(features, dtype=np.float32)
        channels = f.shape[0] // _F
        screen = self.stream(sensor, channels)
        st = self._streams[sensor]
        flags = screen.flags(f, samples)
        score = 1.0 if flags else 0.0
        rows = f.reshape(channels, _F)
        end = t0_ns + round(n_samples * 1e9 / rate_hz)
        if sensor in _ACTIVITY_SENSORS and np.isfinite(rows).all():
            self._activity.spans.append(
                (t0_ns, end, bool(rows[:, _STD].max() < self.config.idle_std))
            )
        before = t0_ns - round(self.config.rest_context_s * 1e9)
        if sensor in _PULSE_SENSORS and not flags and self._activity.resting(before, end):
            bpm = 60.0 * float(rows[0, _DOM])
            if bpm > self.config.rest_bpm or rows[0, _FLAT] > self.config.irregular:
                flags |= RATE
                score = 1.0
        if samples is not None and sensor in _LINE_SENSORS and not flags & scr.NOISE:
            if st.lines is None:
                st.lines = scr.LineWatch(samples.shape[0], samples.shape[1])
            ratio = st.lines.check(samples, learn=not flags)
            if ratio >= st.lines.ratio:
                flags |= scr.LINE
                score = ratio
        warm = screen.n >= 3 * screen.warmup
        if sensor in _LINE_SENSORS:
            warm = warm and st.lines is not None and st.lines.n >= st.lines.warmup
        return Screened(flags, score, screen.level_delta, warm)
