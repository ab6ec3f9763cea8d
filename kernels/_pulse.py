"""A pulse the wearer's activity does not explain: the ``RATE`` check of :class:`DeviceScreen`.

The pulse rate of a PPG window is the peak of its zero-padded Hann spectrum between 42 and
240 bpm (:func:`pulse_bpm`). While the wearer runs, the arm's swing leaks into the PPG at the
gait frequency, stronger than the pulse itself and in the same range; the tone at the gait
frequency the accelerometer reports is fitted (least squares, ±0.25 Hz around it) and removed
first. At a walk the swing is weaker than the pulse, and a walking cadence lies where walking
pulses do, so nothing is removed there; a rate within ``gait_guard_bpm`` of the cadence is
taken for the swing and not judged.

What the activity explains (:class:`PulseWatch`): the heart approaches the rate an activity
asks for with a time constant of ``hr_tau_s``, so the pulse stays below a bound ``U`` that
follows the same law towards the most that the current activity asks for — the wearer's
resting rate + ``rest_rise_bpm`` at rest, + ``walk_rise_bpm`` walking, ``run_max_bpm``
running — and jumps up at once when the activity does. The resting rate is learnt from
windows at a settled rest (until then ``rest_bpm``). A window is high when its rate is above
``U + margin_bpm``; ``RATE`` is flagged from the second high window in a row (one window can
be fooled by an artefact; an arrhythmia lasts), or at the first when the window is sure of
itself: each of its halves alone is high too (the rate held for the whole window), and its
spectrum holds no peak at a half or a third of the rate above ``subharmonic_share`` of the
rate's own (the pulse's second or third harmonic outgrowing its fundamental, which is what
fooled one window in most cases seen). After a fall or a tremor (the accelerometer's
``IMPACT``/``TREMOR``), while the wearer stays still and ``after_event_s`` after, the pulse
is not judged: what it does then is the event's, not an arrhythmia.

Activity comes from the device's accelerometer windows: at rest when every axis' std is below
``idle_std``; running when the busiest axis' dominant frequency (the cadence) is at least
``run_cadence_hz`` and its std above ``run_std``; else walking.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

__all__ = ["PulseConfig", "PulseWatch", "pulse_bpm", "subharmonic_share"]

IDLE, WALKING, RUNNING = 0, 1, 2
_LO_HZ, _HI_HZ = 0.7, 4.0
_NFFT = 1024


@dataclass(frozen=True, slots=True)
class PulseConfig:
    #: Accelerometer at rest: every axis' std below this (m/s²).
    idle_std: float = 0.5
    #: Running: a cadence at or above this (Hz) with the busiest axis' std above ``run_std``.
    run_cadence_hz: float = 2.3
    run_std: float = 2.0
    #: Resting pulse (bpm) assumed until the wearer's own is learnt.
    rest_bpm: float = 70.0
    #: The most the activity explains: rest + this at rest, rest + ``walk_rise_bpm`` walking,
    #: ``run_max_bpm`` running.
    rest_rise_bpm: float = 5.0
    walk_rise_bpm: float = 35.0
    run_max_bpm: float = 150.0
    #: Time constant of the heart's approach to the rate an activity asks for (s).
    hr_tau_s: float = 20.0
    #: A pulse this far above the bound is high.
    margin_bpm: float = 15.0
    #: A rate this close to the cadence (bpm) is taken for the arm's swing.
    gait_guard_bpm: float = 9.0
    #: Seconds after a fall or tremor (and the stillness after it) when the pulse is not judged.
    after_event_s: float = 60.0
    #: One high window is enough when both its halves are high and no peak within 6 bpm of a
    #: half or a third of its rate holds more than this share of the rate's power.
    subharmonic_share: float = 0.35


def _remove_tone(x: np.ndarray, rate_hz: float, near_hz: float) -> np.ndarray:
    """``x`` less its best-fitting sinusoid within ±0.25 Hz of ``near_hz`` (least squares)."""
    t = np.arange(len(x)) / rate_hz
    freqs = np.linspace(near_hz - 0.25, near_hz + 0.25, 51)
    ph = 2 * np.pi * freqs[:, None] * t[None, :]
    s, c = np.sin(ph), np.cos(ph)
    ss, cc, sc = (s * s).sum(1), (c * c).sum(1), (s * c).sum(1)
    sx, cx = s @ x, c @ x
    det = ss * cc - sc * sc
    a = (cc * sx - sc * cx) / det
    b = (ss * cx - sc * sx) / det
    k = int(np.argmax(a * sx + b * cx))  # the fit's explained energy
    return x - (a[k] * s[k] + b[k] * c[k])


def _pulse_band(
    x: np.ndarray, rate_hz: float, gait_hz: float
) -> tuple[np.ndarray, np.ndarray] | None:
    """(bpm, power) of the zero-padded Hann spectrum of ``x`` over the pulse band, the tone
    near ``gait_hz`` removed first (if > 0); None when ``x`` is too short, not finite or flat."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) < 16 or not np.isfinite(x).all() or rate_hz < 2 * _LO_HZ:
        return None
    x = x - x.mean()
    if gait_hz > 0:
        x = _remove_tone(x, rate_hz, gait_hz)
    nfft = max(_NFFT, 1 << (len(x) - 1).bit_length())
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)), nfft)) ** 2
    f = np.fft.rfftfreq(nfft, 1.0 / rate_hz)
    band = np.flatnonzero((f >= _LO_HZ) & (f <= min(_HI_HZ, rate_hz / 2)))
    if not len(band) or spec[band].max() <= 0:
        return None
    return 60.0 * f[band], spec[band]


def pulse_bpm(x: np.ndarray, rate_hz: float, gait_hz: float = 0.0) -> float:
    """Pulse rate (bpm) of one PPG channel ``x``; with ``gait_hz`` > 0 the tone near it (the
    arm's swing) is removed first. NaN when ``x`` is too short or not finite."""
    return _rate(_pulse_band(x, rate_hz, gait_hz))


def _rate(band: tuple[np.ndarray, np.ndarray] | None) -> float:
    """The rate (bpm) at the peak of a pulse band's spectrum (``_pulse_band``); NaN for none."""
    if band is None:
        return math.nan
    bpm, power = band
    return float(bpm[np.argmax(power)])


def subharmonic_share(x: np.ndarray, rate_hz: float, gait_hz: float = 0.0) -> float:
    """The largest power within 6 bpm of a half or a third of the pulse rate of ``x``, as a
    share of the rate's own (as :func:`pulse_bpm` finds it); NaN where that finds none."""
    got = _pulse_band(x, rate_hz, gait_hz)
    return math.nan if got is None else _share(*got)


def _share(bpm: np.ndarray, power: np.ndarray) -> float:
    """:func:`subharmonic_share` of a pulse band's spectrum (``_pulse_band``)."""
    k = int(np.argmax(power))
    share = 0.0
    for d in (2.0, 3.0):
        near = np.abs(bpm - bpm[k] / d) <= 6.0
        if near.any():
            share = max(share, float(power[near].max() / power[k]))
    return share


@dataclass
class _Span:
    start: int
    end: int
    level: int
    cadence_hz: float


@dataclass
class PulseWatch:
    """The pulse check of one wearer: activity from the accelerometer, the bound it explains."""

    config: PulseConfig = field(default_factory=PulseConfig)
    spans: deque[_Span] = field(default_factory=lambda: deque(maxlen=16))
    bound: float = math.nan  # U, bpm (NaN: unknown, taken as the running maximum)
    rest: float = math.nan  # the wearer's resting pulse, once learnt
    last_end: int | None = None  # end of the last judged PPG window (ns)
    high: bool = False  # the last judged PPG window was high
    quiet_until: int = -1  # no judgement before this (ns): after a fall or a tremor

    def activity(self, t0_ns: int, end_ns: int, top: float, cadence_hz: float,
                 event: bool) -> None:  # fmt: skip
        """Account one accelerometer window: the std of its busiest axis, that axis' dominant
        frequency, and whether it showed a fall or a tremor."""
        cfg = self.config
        if top < cfg.idle_std:
            level, cadence_hz = IDLE, 0.0
        elif cadence_hz >= cfg.run_cadence_hz and top > cfg.run_std:
            level = RUNNING
        else:
            level = WALKING
        after = round(cfg.after_event_s * 1e9)
        if event or (level == IDLE and 0 <= t0_ns <= self.quiet_until):
            self.quiet_until = max(self.quiet_until, end_ns + after)
        self.spans.append(_Span(t0_ns, end_ns, level, cadence_hz))

    def check(self, t0_ns: int, end_ns: int, ppg: np.ndarray, rate_hz: float) -> bool | None:
        """Is the pulse of PPG window [t0, end) unexplained (``RATE``)? None when it cannot be
        judged: no accelerometer window over it."""
        cfg = self.config
        over = [s for s in self.spans if s.end > t0_ns and s.start < end_ns]
        if not over:
            self.last_end, self.high, self.bound = None, False, math.nan
            return None
        busiest = max(over, key=lambda s: s.level)
        rest = cfg.rest_bpm if math.isnan(self.rest) else self.rest
        top = (rest + cfg.rest_rise_bpm, rest + cfg.walk_rise_bpm, cfg.run_max_bpm)[busiest.level]
        last = self.last_end
        contiguous = last is not None and t0_ns - last < end_ns - t0_ns
        if last is None or not contiguous or math.isnan(self.bound):
            self.bound = max(top, cfg.run_max_bpm)
        else:
            decay = math.exp(-(end_ns - last) / 1e9 / cfg.hr_tau_s)
            self.bound = max(top, top + (self.bound - top) * decay)
        self.last_end = end_ns
        gait = busiest.cadence_hz if busiest.level == RUNNING else 0.0
        band = _pulse_band(ppg, rate_hz, gait)  # once: the rate, and the subharmonics if sure
        bpm = _rate(band)
        swing = busiest.cadence_hz > 0 and abs(bpm - 60 * busiest.cadence_hz) < cfg.gait_guard_bpm
        if math.isnan(bpm) or swing or end_ns <= self.quiet_until:
            self.high = False
            return False
        high = bpm > self.bound + cfg.margin_bpm
        flagged = high and ((self.high and contiguous) or self._sure(ppg, rate_hz, gait, band))
        self.high = high
        settled = self.bound < rest + cfg.rest_rise_bpm + 3
        if busiest.level == IDLE and settled and not high and bpm < rest + 20:
            self.rest = bpm if math.isnan(self.rest) else self.rest + 0.1 * (bpm - self.rest)
        return flagged

    def _sure(
        self,
        ppg: np.ndarray,
        rate_hz: float,
        gait_hz: float,
        band: tuple[np.ndarray, np.ndarray] | None,
    ) -> bool:
        """Whether one high PPG window is enough (see the module docstring); ``band`` is the
        window's pulse-band spectrum, already computed for its rate."""
        cfg = self.config
        half = len(ppg) // 2
        top = self.bound + cfg.margin_bpm
        for part in (ppg[:half], ppg[half:]):
            if not pulse_bpm(part, rate_hz, gait_hz) > top:  # NaN is not sure either
                return False
        return band is not None and _share(*band) < cfg.subharmonic_share
