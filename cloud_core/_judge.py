"""The cloud's judgement of a window: is it anomalous, of what kind. Pure, no I/O.

The core judges every window it stores, and the simulator's in-process cloud runs this same code.
Per stream (device and sensor) it runs :class:`kernels.Screen` — the checks devices run, here on
the samples whenever a window brought them (RAW, BOTH, point-compressed), else on the features —
and heavier checks of its own on samples: :class:`kernels.LineWatch` (a spectral line the
stream's baseline lacks: bearing defects) on vibration, and, on PPG, a pulse rate that does not
fit what the same device's accelerometer says the wearer is doing (at rest through the PPG
window and ``rest_context_s`` before it, with a rate above ``rest_bpm`` or an irregular pulse).

Where the cloud's own checks find nothing, the device's screening flags decide if the cloud
could not judge for itself — it got no samples (features only, or a flag-only record), or its
baseline of the stream is not warm yet: the crisp flags (everything but ``novel``) are taken on
trust, since the device saw the samples. A ``novel`` flag alone never makes an alert:
unconfirmed novelty is where false alarms come from.

Kinds, by the first flag that applies: ``nan`` dropout, ``constant`` stuck, ``impact`` fall,
``pinned`` clipping, ``spike`` spike, ``tremor`` tremor, ``line`` bearing_fault, ``rate``
arrhythmia, ``noise`` noise_burst, ``level`` overheat (temperatures going up) or drift.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

import kernels
from kernels import _screen as scr

__all__ = ["RATE", "Evidence", "Judge", "JudgeConfig", "Verdict", "kind_of"]

#: Flag of the cloud's own: a pulse rate the wearer's activity does not explain.
RATE = 1024
_F = len(kernels.FEATURE_NAMES)
_STD = kernels.FEATURE_NAMES.index("std")
_DOM = kernels.FEATURE_NAMES.index("dominant_freq")
_FLAT = kernels.FEATURE_NAMES.index("spectral_flatness")
_TRUTH = 1 << 30
_KINDS = (
    (scr.NAN, "dropout"),
    (scr.CONSTANT, "stuck"),
    (scr.IMPACT, "fall"),
    (scr.PINNED, "clipping"),
    (scr.SPIKE, "spike"),
    (scr.TREMOR, "tremor"),
    (scr.LINE, "bearing_fault"),
    (RATE, "arrhythmia"),
    (scr.NOISE, "noise_burst"),
)
_CRISP = ~scr.NOVEL & 0x7FFFFFFF
_WARM_TEMPS = ("temp", "climate")


def kind_of(flags: int, sensor: str, level_delta: float = 0.0) -> str:
    """The alert kind a set of flags stands for ("" when none applies)."""
    for bit, kind in _KINDS:
        if flags & bit:
            return kind
    if flags & scr.LEVEL:
        return "overheat" if sensor in _WARM_TEMPS and level_delta > 0 else "drift"
    if flags & _TRUTH:
        return "truth"
    return ""


@dataclass(frozen=True, slots=True)
class JudgeConfig:
    #: Idle accelerometer (max axis std, m/s²) and the pulse rate above which resting is odd.
    idle_std: float = 0.5
    rest_bpm: float = 125.0
    #: Seconds of rest before a PPG window that its check requires.
    rest_context_s: float = 2.56
    #: Spectral flatness of a resting PPG window above which the pulse is irregular.
    irregular_flatness: float = 0.25


@dataclass(frozen=True, slots=True)
class Evidence:
    """One window as the cloud received it."""

    key: tuple[str, str, str]  # (tenant, device, sensor)
    t0_ns: int
    rate_hz: float
    n_samples: int
    features: np.ndarray | None  # (channels * F,) float32: the device's, or the cloud's
    samples: np.ndarray | None  # (channels, n) float32, decoded raw (or rebuilt points)
    novelty: float = 0.0
    flags: int = 0  # the device's screening flags


@dataclass(frozen=True, slots=True)
class Verdict:
    anomalous: bool
    kind: str = ""
    score: float = 0.0
    raw: bool = False  # judged on samples
    flags: int = 0


@dataclass
class _Stream:
    screen: scr.Screen
    lines: scr.LineWatch | None = None


@dataclass
class _Device:
    #: recent accelerometer windows: (start ns, end ns, at rest)
    accel: deque[tuple[int, int, bool]] = field(default_factory=lambda: deque(maxlen=16))
    streams: dict[str, _Stream] = field(default_factory=dict)

    def resting(self, start: int, end: int) -> bool:
        """The accelerometer saw rest from ``start`` to ``end``, without a gap."""
        spans = sorted((a, b) for a, b, idle in self.accel if b > start and a < end and idle)
        if any(b > start and a < end and not idle for a, b, idle in self.accel):
            return False
        at = start
        for a, b in spans:
            if a > at:
                return False
            at = max(at, b)
        return at >= end


class Judge:
    """Judges windows stream by stream; owns a small state per device and sensor."""

    def __init__(self, config: JudgeConfig | None = None) -> None:
        self.config = config or JudgeConfig()
        self._devices: dict[tuple[str, str], _Device] = {}

    def judge(self, ev: Evidence) -> Verdict:
        """Judge one window (and learn from it when it is ordinary)."""
        tenant, device, sensor = ev.key
        dev = self._devices.get((tenant, device))
        if dev is None:
            dev = self._devices[(tenant, device)] = _Device()
        if ev.features is None or not len(ev.features):
            crisp = ev.flags & _CRISP
            return Verdict(bool(crisp), kind_of(crisp, sensor), ev.novelty, False, crisp)
        f = np.asarray(ev.features, dtype=np.float32)
        channels = f.shape[0] // _F
        st = dev.streams.get(sensor)
        if st is None or st.screen.channels != channels:
            st = _Stream(scr.Screen(channels, scr.profile_for(sensor)))
            dev.streams[sensor] = st
        x = ev.samples
        flags = st.screen.flags(f, x)
        end = ev.t0_ns + round(ev.n_samples * 1e9 / ev.rate_hz)
        if sensor == "accel" and np.isfinite(f).all():
            idle = bool(f.reshape(channels, _F)[:, _STD].max() < self.config.idle_std)
            dev.accel.append((ev.t0_ns, end, idle))
        if sensor == "ppg" and not flags:
            before = round(self.config.rest_context_s * 1e9)
            if dev.resting(ev.t0_ns - before, end):
                flags |= self._pulse(f.reshape(channels, _F)[0])
        score = 1.0 if flags else 0.0
        if x is not None and scr.profile_for(sensor).name == "vib" and not flags & scr.NOISE:
            if st.lines is None:
                st.lines = scr.LineWatch(x.shape[0], x.shape[1])
            ratio = st.lines.check(x, learn=not flags)
            if ratio >= st.lines.ratio:
                flags |= scr.LINE
                score = ratio
        if not flags and (x is None or not st.screen.warm or ev.flags & _TRUTH):
            # the device saw samples we did not, or saw them with a baseline we lack yet
            flags = ev.flags & _CRISP
        kind = kind_of(flags, sensor, st.screen.level_delta)
        return Verdict(bool(flags), kind, score or ev.novelty, x is not None, flags)

    def _pulse(self, f: np.ndarray) -> int:
        bpm = 60.0 * float(f[_DOM])
        if bpm > self.config.rest_bpm or f[_FLAT] > self.config.irregular_flatness:
            return RATE
        return 0
