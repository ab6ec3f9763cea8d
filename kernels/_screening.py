"""Screening of a whole device: every stream's :class:`Screen`, plus the checks that need more.

:class:`DeviceScreen` keeps one :class:`Screen` per sensor and adds:

* ``LINE`` on streams whose profile watches spectral lines (vibration): a
  :class:`LineWatch` on the samples — new lines the stream's baseline spectrum lacks;
* ``RATE`` on pulse streams (PPG): a pulse the wearer's activity, as the device's
  accelerometer shows it, does not explain (:class:`kernels._pulse.PulseWatch`: the pulse
  rate with the arm's swing removed, against the bound the activity and the heart's own
  dynamics put on it); it needs the samples;
* ``LEVEL`` on a machine's temperature (``temp``) that its load, as the device's vibration
  windows show it, does not explain (:class:`kernels._thermal.ThermalWatch`: a fitted thermal
  lag from the vibration's energy to the temperature); it needs the vibration windows around
  the temperature window, so where they did not come (the cloud, sent only some) it waits.

Devices run it on every window (they always have the samples); the cloud runs it on the windows
whose samples it received. Pure, no I/O, state bounded per stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kernels import _screen as scr
from kernels._features import FEATURE_NAMES
from kernels._pulse import PulseConfig, PulseWatch
from kernels._thermal import ThermalConfig, ThermalWatch

__all__ = ["RATE", "DeviceScreen", "ScreenConfig", "Screened"]

RATE = 1024
scr.FLAG_NAMES[RATE] = "rate"
_F = len(FEATURE_NAMES)
_MEAN = FEATURE_NAMES.index("mean")
_STD = FEATURE_NAMES.index("std")
_DOM = FEATURE_NAMES.index("dominant_freq")
_LINE_SENSORS = ("vib",)
_PULSE_SENSORS = ("ppg",)
_ACTIVITY_SENSORS = ("accel",)
_LOAD_SENSORS = ("vib",)
_THERMAL_SENSORS = ("temp",)


@dataclass(frozen=True, slots=True)
class ScreenConfig:
    #: The pulse check's settings (``RATE``).
    pulse: PulseConfig = field(default_factory=PulseConfig)
    #: The thermal check's settings (``LEVEL`` on a machine's temperature).
    thermal: ThermalConfig = field(default_factory=ThermalConfig)


@dataclass(frozen=True, slots=True)
class Screened:
    """A window's flags, a score (the new-line ratio, or 1 when flagged), how far channel 0's
    level is above its reference (what tells an overheat from a drift), and whether every
    check that needs a baseline could run (``warm``: the stream's level reference is settled
    and, where lines are watched, the line baseline too and the windows just before this one
    were seen; on pulse streams, the wearer's activity over the window was known). ``blind``:
    the flags whose checks compare the window with the one just before it (NOISE's roughness,
    LEVEL's slope), when that one was not seen — whoever saw it (the device) knows better."""

    flags: int
    score: float
    level_delta: float
    warm: bool
    blind: int = 0


@dataclass
class _Stream:
    screen: scr.Screen
    lines: scr.LineWatch | None = None
    next_ns: int = -1  # where the window after the last one seen starts (-1: none seen)

    def follows(self, t0_ns: int, end_ns: int) -> bool:
        """Whether the window [t0_ns, end_ns) follows the last one seen (within half a window)
        and is the next one's predecessor from now on."""
        follows = self.next_ns >= 0 and abs(t0_ns - self.next_ns) * 2 <= end_ns - t0_ns
        self.next_ns = end_ns
        return follows


class DeviceScreen:
    """The screening state of one device, across its sensors."""

    def __init__(self, config: ScreenConfig | None = None) -> None:
        self.config = config or ScreenConfig()
        self._streams: dict[str, _Stream] = {}
        self._pulse = PulseWatch(self.config.pulse)
        self._thermal: ThermalWatch | None = None  # on the first window of a load sensor

    def stream(self, sensor: str, channels: int, rate_hz: float = 0.0) -> scr.Screen:
        st = self._streams.get(sensor)
        if st is None or st.screen.channels != channels:
            st = _Stream(scr.Screen(channels, scr.profile_for(sensor), rate_hz=rate_hz))
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
        screen = self.stream(sensor, channels, rate_hz)
        st = self._streams[sensor]
        end = t0_ns + round(n_samples * 1e9 / rate_hz)
        follows = st.follows(t0_ns, end)
        if not follows:
            screen.restart()
        flags = screen.flags(f, samples)
        score = 1.0 if flags else 0.0
        rows = f.reshape(channels, _F)
        # without NAN every feature is finite (the kernel flags any that is not)
        if sensor in _ACTIVITY_SENSORS and (not flags & scr.NAN or np.isfinite(rows).all()):
            stds = rows[:, _STD].tolist()  # a few axes: list operations, not NumPy calls
            top = max(stds)
            event = bool(flags & (scr.IMPACT | scr.TREMOR))
            self._pulse.activity(t0_ns, end, top, float(rows[stds.index(top), _DOM]), event)
        judged = True
        if sensor in _PULSE_SENSORS and samples is not None and not flags:
            unexplained = self._pulse.check(t0_ns, end, samples[0], rate_hz)
            judged = unexplained is not None
            if unexplained:
                flags |= RATE
                score = 1.0
        if samples is not None and sensor in _LINE_SENSORS and not flags & scr.NOISE:
            if st.lines is None:
                st.lines = scr.LineWatch(samples.shape[0], samples.shape[1])
            ratio = st.lines.check(samples, learn=not flags, follows=follows)
            if ratio >= st.lines.ratio:
                flags |= scr.LINE
                score = ratio
        thermal = self._thermal
        if sensor in _LOAD_SENSORS and samples is not None:
            # only where the line check ran: a bearing's line unflagged would read as load
            if thermal is None:
                thermal = self._thermal = ThermalWatch(self.config.thermal)
            energy = float((rows[:, _STD].astype(np.float64) ** 2).sum())
            thermal.load(t0_ns, end, energy, ordinary=not flags)
        elif sensor in _THERMAL_SENSORS and thermal is not None and thermal.active:
            x = thermal.regressors(t0_ns, end)
            z = thermal.check(x, float(rows[0, _MEAN]))
            judged = judged and z is not None
            thermal.learn(x, float(rows[0, _MEAN]), z, others=bool(flags))
            if thermal.flagged(z):
                flags |= scr.LEVEL
                score = 1.0
        warm = screen.n >= 3 * screen.warmup and judged
        if sensor in _LINE_SENSORS:
            # a weak line is known only from consecutive windows: without them the cloud takes
            # the device's word (it saw every window)
            lines = st.lines
            warm = warm and lines is not None and lines.n >= lines.warmup and lines.persistent
        blind = 0 if follows else scr.NOISE | scr.LEVEL
        return Screened(flags, score, screen.level_delta, warm, blind)
