"""Window screening: cheap, explainable checks that flag what a window shows. Device and cloud.

The device runs :class:`Screen` on every window (a few microseconds over the features it has
already computed) and sends the flags upstream; the cloud runs the same checks on the raw
windows it receives, plus heavier ones of its own. Each flag is one bit of ``Window.flags``
(the numbers of the protobuf enum ``binhai.v1.WindowFlag``):

=========  ==============================================================================
flag       set when
=========  ==============================================================================
NAN        a sample is NaN or ±inf (a dropout: the features are NaN)
CONSTANT   every channel is exactly constant (a stuck sensor: std = 0)
PINNED     a channel spends >= ``profile.pinned`` of its samples at its own max or min, in
           runs of >= 3 (clipping at rails)
SPIKE      a sample's distance from its neighbours' mean is >= ``profile.spike_ratio`` times
           the 90th percentile of those distances (an isolated outlier)
IMPACT     ``profile.impact`` > 0 and the magnitude of the sample vector exceeds it, with a
           neighbour (±2 samples) above half of it (a physical impact, not a one-sample spike)
TREMOR     ``profile.tremor`` band set and a channel's dominant frequency lies in it with
           >= 90 % of its power in the feature bands that band touches (at the stream's rate;
           band 1 when the rate is not known)
NOISE      a channel's high-band amplitude (std x sqrt(share of the top band)) is
           >= ``profile.noise_ratio`` times the stream's baseline; or, where
           ``profile.rough_ratio`` > 0 and the samples are at hand, its roughness (the 90th
           percentile of the samples' distances from their neighbours' mean) is above
           ``rough_ratio`` times the stream's usual roughness (or its last ordinary window's,
           the smoother: the usual lags behind a change of activity) and above 0.8 x the
           channel's std (white noise is rough, motion and heat are smooth: a noise burst,
           whatever the wearer does); from the stream's third window
LEVEL      the level moves: accelerometers (``profile.gravity`` > 0) when the norm of the
           mean vector differs from 1 g by > 0.2 g, or where ``profile.gravity_rest`` > 0 by
           more than ``gravity_rest`` g + ``gravity_std`` x the window's largest std, if that
           is less (a still wrist's mean is gravity within its calibration, a moving one's
           less exactly); other sensors when a channel's mean is
           off its slow reference by > ``profile.level_sigmas`` x its usual distance from
           it, or its std is > ``profile.std_ratio`` x its usual std (a ramp within the
           window), either by more than ``profile.level_floor`` in the sensor's unit (a
           quarter of it for the std); or
           channel 0's mean is above ``profile.high_limit`` (temperatures: an absolute limit); or
           ``profile.slope_ratio`` > 0 and a channel's mean moved from the previous window's by
           more than ``slope_ratio`` x its usual move and more than ``profile.slope_floor``
           (``level_floor`` when 0): a heat-up or a drift faster than the sensor's own
           dynamics, caught while the reference is still settling or learning the trend; or
           ``profile.slope_std`` > 0 and, once warm, a channel's mean moved from the previous
           window's by more than ``slope_std`` x its usual std (a pulse wave's baseline
           jumping by more than the wave's own swing)
NOVEL      the stream's :class:`NoveltyScorer` scores the features >= the policy threshold
           (set by the caller)
=========  ==============================================================================

Baselines (per stream and channel: a slow reference of the mean and the usual distance from it,
the std, the high-band amplitude) learn only from windows with no flag, by exponential averaging
(``alpha``, ``profile.ref_rate`` times it for the reference: a fifth, or all of it for a sensor
whose level wanders by nature, like a room's humidity over a day) — the reference also skips
windows already three usual distances off, so a slow drift is not learnt before it is flagged;
NOISE (but its roughness check) and the std check of LEVEL wait for ``warmup`` windows, its
reference check (whose usual distance takes longer to know) for three times as many; its slope
check starts with the stream's second window, its floor alone at first (the usual move between
consecutive windows, learnt like the reference — a move already three usual moves off is not
learnt after the first few — may still be unknown, and an event in a stream's first minutes
must not be learnt as its usual moves).
Where ``profile.reseat`` > 0, a level that has stopped moving — that many windows in a row
flagged LEVEL alone, each moving no more than the stream usually does — becomes the reference:
the new normal after an event, or a slow natural trend, not an alert for ever after.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from kernels._backend import njit
from kernels._config import JIT
from kernels._features import FEATURE_NAMES
from kernels._rfft import rfft

G = 9.80665

NAN = 2
CONSTANT = 4
PINNED = 8
SPIKE = 16
IMPACT = 32
TREMOR = 64
NOISE = 128
LEVEL = 256
NOVEL = 1
#: Flag bit -> the name used in docs, logs and alerts.
FLAG_NAMES = {
    NOVEL: "novel",
    NAN: "nan",
    CONSTANT: "constant",
    PINNED: "pinned",
    SPIKE: "spike",
    IMPACT: "impact",
    TREMOR: "tremor",
    NOISE: "noise",
    LEVEL: "level",
}

_F = len(FEATURE_NAMES)
_STD = FEATURE_NAMES.index("std")
_MEAN = FEATURE_NAMES.index("mean")
_DOM = FEATURE_NAMES.index("dominant_freq")
_BAND0 = FEATURE_NAMES.index("band_power_0")
_N_BANDS = 8
# window_stats output slots
_S_NAN, _S_CONST, _S_PINNED, _S_SPIKE, _S_PEAK, _S_WIDE, _S_HAVE = range(7)
N_STATS = 7


@dataclass(frozen=True, slots=True)
class SensorProfile:
    """What the checks know about a kind of sensor (thresholds in its unit)."""

    name: str = "generic"
    spike_ratio: float = 8.0
    pinned: float = 0.15
    impact: float = 0.0
    tremor: tuple[float, float] | None = None
    noise_ratio: float = 6.0
    level_sigmas: float = 8.0
    std_ratio: float = 0.0
    level_floor: float = 0.0
    gravity: float = 0.0
    high_limit: float = math.inf
    slope_ratio: float = 0.0
    rough_ratio: float = 0.0
    ref_rate: float = 0.2
    reseat: int = 0
    #: the slope check's floor in the sensor's unit (0: ``level_floor``)
    slope_floor: float = 0.0
    #: > 0: a mean that moved from the previous window's by more than this many times the
    #: channel's usual std is a LEVEL move too (a level that jumps by more than the signal's
    #: own swing: a pulse wave's baseline drifting)
    slope_std: float = 0.0
    #: > 0: the gravity check's tolerance is this share of ``gravity``, plus ``gravity_std``
    #: times the window's largest std, up to 0.2 of ``gravity`` (0: 0.2 of it, flat)
    gravity_rest: float = 0.0
    gravity_std: float = 0.0


# Slow thermal sensors: an absolute limit, a level that moves, a fast rise, a rough burst.
_THERMAL = SensorProfile(
    "temp",
    pinned=0.6,
    level_sigmas=4.0,
    std_ratio=6.0,
    level_floor=2.0,
    high_limit=60.0,
    slope_ratio=4.0,
    rough_ratio=4.0,
    reseat=5,
)

#: Built-in profiles, by sensor name (others get the generic one).
PROFILES: dict[str, SensorProfile] = {
    "accel": SensorProfile(
        "accel",
        spike_ratio=60.0,
        impact=3 * G,
        tremor=(3.5, 7.0),
        noise_ratio=30.0,
        gravity=G,
        rough_ratio=6.5,
        # over 72 wrist-hours of the simulator's wrists the norm of a window's mean stayed
        # within 0.02 g of 1 g at rest and 0.16 g running (std 4-6 m/s²): this bound is at
        # least 1.25x what each window showed, so a drifting axis is seen while the wearer is
        # still, not only once it is 0.2 g off
        gravity_rest=0.04,
        gravity_std=0.035 * G,  # 0.035 g per m/s² of std
    ),
    # the pulse wave's baseline wanders by less than the wave's own std between windows (at
    # most 0.84x over 72 wrist-hours of the simulator's wrists, every activity): a sensor
    # drifting faster is seen within a window or two of its onset
    "ppg": SensorProfile("ppg", level_sigmas=10.0, slope_std=1.1),
    "vib": SensorProfile("vib", level_sigmas=10.0),
    "temp": _THERMAL,
    # a room moves ~0.1 °C or %RH a minute at most (the day, the weather): a sustained 0.3 is
    # a drifting sensor or an event, however the level compares with a still-settling reference
    "climate": replace(
        _THERMAL, name="climate", level_floor=1.5, high_limit=32.0, ref_rate=1.0, slope_floor=0.3
    ),
}


def profile_for(sensor: str) -> SensorProfile:
    return PROFILES.get(sensor, SensorProfile())


@njit(**JIT)
def window_stats(x, out, rough):  # pragma: no cover - compiled
    """Sample-level statistics of one (channels, n) window into ``out`` (N_STATS,), and each
    channel's roughness into ``rough`` (channels,) (0: not measured)."""
    ch, n = x.shape
    out[:] = 0.0
    rough[:] = 0.0
    for c in range(ch):
        for i in range(n):
            if not math.isfinite(x[c, i]):
                out[_S_NAN] = 1.0
                return
    const = True
    for c in range(ch):
        for i in range(1, n):
            if x[c, i] != x[c, 0]:
                const = False
                break
    out[_S_CONST] = 1.0 if const else 0.0
    if n < 5:
        return
    resid = np.empty(n - 2)
    for c in range(ch):
        hi = x[c, 0]
        lo = x[c, 0]
        for i in range(n):
            hi = max(hi, x[c, i])
            lo = min(lo, x[c, i])
        if hi > lo:
            for target in (hi, lo):
                run = 0
                pinned = 0
                for i in range(n + 1):
                    if i < n and x[c, i] == target:
                        run += 1
                    else:
                        if run >= 3:
                            pinned += run
                        run = 0
                out[_S_PINNED] = max(out[_S_PINNED], pinned / n)
        for i in range(1, n - 1):
            resid[i - 1] = abs(np.float64(x[c, i]) - 0.5 * (np.float64(x[c, i - 1]) + x[c, i + 1]))
        top = resid.max()
        p90 = np.partition(resid, int(0.9 * (n - 3)))[int(0.9 * (n - 3))]
        rough[c] = p90
        if top > 0:
            ratio = top / p90 if p90 > 0 else np.inf
            out[_S_SPIKE] = max(out[_S_SPIKE], ratio)
    norms = np.empty(n)
    for i in range(n):
        s = 0.0
        for c in range(ch):
            s += np.float64(x[c, i]) * x[c, i]
        norms[i] = math.sqrt(s)
    k = np.argmax(norms)
    out[_S_PEAK] = norms[k]
    wide = 0.0
    for j in range(max(0, k - 2), min(n, k + 3)):
        if j != k and norms[j] > 0.5 * norms[k]:
            wide = 1.0
    out[_S_WIDE] = wide


class Screen:
    """Flags of the windows of one stream (one sensor of one device); state across windows.

    Parameters
    ----------
    channels : int
    profile : SensorProfile
    alpha : float
        Weight of a window in the baselines. Default 0.05.
    warmup : int
        Unflagged windows before the baseline checks (NOISE, LEVEL) start. Default 8.
    rate_hz : float
        The stream's sample rate (0: not known), which places the tremor band among the
        feature bands.
    """

    def __init__(
        self,
        channels: int,
        profile: SensorProfile,
        *,
        alpha: float = 0.05,
        warmup: int = 8,
        rate_hz: float = 0.0,
    ) -> None:
        self.channels = channels
        self.profile = profile
        self.alpha = float(alpha)
        self.warmup = int(warmup)
        self.n = 0
        # ref, dev, std, hf, the previous window's mean (NaN: none yet), usual move, usual
        # roughness, per channel
        self._state = np.zeros((9, channels))
        self._state[_PREV] = np.nan
        self._profile = _profile_array(profile, rate_hz)
        self._delta = np.zeros(1)
        self.level_delta = 0.0  # channel 0's mean - its reference, at the last level check
        self._stats = np.zeros(N_STATS)
        self._rough = np.zeros(channels)

    @property
    def warm(self) -> bool:
        return self.n >= self.warmup

    def flags(self, features: np.ndarray, samples: np.ndarray | None = None) -> int:
        """Flags of one window (``features`` (channels * F,), ``samples`` (channels, n) when
        they are at hand); learns the baselines from it when it has none."""
        f = np.ascontiguousarray(features).reshape(self.channels, _F)
        st = self._stats
        if samples is None:
            st[_S_HAVE] = 0.0
            self._rough[:] = 0.0
        else:
            window_stats(np.ascontiguousarray(samples), st, self._rough)
            st[_S_HAVE] = 1.0
        flags, self.n = screen_kernel(
            f, st, self._rough, self._profile, self._state, self.n, self.warmup, self.alpha,
            self._delta,
        )  # fmt: skip
        self.level_delta = float(self._delta[0])
        return int(flags)

    def restart(self) -> None:
        """The next window does not follow the last one seen (the cloud, which gets only some
        windows' samples, or a gap): what is measured between consecutive windows — the move
        from the previous mean, the last ordinary window's roughness — does not carry over."""
        self._state[_PREV] = np.nan
        self._state[_RECENT] = self._state[_ROUGH]

    @property
    def ref(self) -> np.ndarray:
        """Slow reference of the window means, per channel."""
        return self._state[_REF]

    @property
    def dev(self) -> np.ndarray:
        """Usual distance of a window mean from the reference, per channel."""
        return self._state[_DEV]

    @property
    def std(self) -> np.ndarray:
        return self._state[_STDB]

    @property
    def hf(self) -> np.ndarray:
        return self._state[_HF]


# Screen state rows and profile slots of the compiled kernel
_REF, _DEV, _STDB, _HF, _PREV, _MOVE, _ROUGH, _HOLD, _RECENT = range(9)
(_P_SPIKE, _P_PINNED, _P_IMPACT, _P_TLO, _P_THI, _P_NOISE, _P_SIGMAS, _P_STDR, _P_FLOOR,
 _P_GRAV, _P_HIGH, _P_SLOPE, _P_ROUGH, _P_REFRATE, _P_RESEAT, _P_SFLOOR, _P_TB0,
 _P_TB1, _P_SSTD, _P_GREST, _P_GSTD) = range(21)  # fmt: skip


def _profile_array(p: SensorProfile, rate_hz: float = 0.0) -> np.ndarray:
    lo, hi = p.tremor if p.tremor is not None else (0.0, -1.0)
    b0 = b1 = 1  # the feature bands the tremor band touches (equal widths up to rate / 2)
    if rate_hz > 0 and hi >= lo:
        width = rate_hz / 2 / _N_BANDS
        b0 = min(_N_BANDS - 1, int(lo / width))
        b1 = min(_N_BANDS - 1, int(hi / width))
    return np.array(
        [p.spike_ratio, p.pinned, p.impact, lo, hi, p.noise_ratio, p.level_sigmas, p.std_ratio,
         p.level_floor, p.gravity, p.high_limit, p.slope_ratio, p.rough_ratio, p.ref_rate,
         p.reseat, p.slope_floor or p.level_floor, b0, b1, p.slope_std, p.gravity_rest,
         p.gravity_std],
        dtype=np.float64,
    )  # fmt: skip


@njit(**JIT)
def screen_kernel(f, st, rough, prof, state, n, warmup, alpha, delta):  # pragma: no cover
    """The checks of :class:`Screen` on one window's features ``f`` (channels, F), sample
    statistics ``st`` and roughness ``rough`` (channels,); learns ``state`` from an unflagged
    window. Returns (flags, new n)."""
    ch = f.shape[0]
    gap = st[_S_HAVE] != 0.0 and st[_S_NAN] != 0.0
    for c in range(ch):
        for j in range(f.shape[1]):
            if not math.isfinite(f[c, j]):
                gap = True
    if gap:  # no move is measured across missing samples
        state[_PREV, :] = np.nan
        return NAN, n
    flags = 0
    constant = True
    for c in range(ch):
        if f[c, _STD] != 0.0:
            constant = False
    if constant:
        flags |= CONSTANT
    if st[_S_HAVE] != 0.0:
        if st[_S_PINNED] >= prof[_P_PINNED]:
            flags |= PINNED
        if prof[_P_IMPACT] > 0 and st[_S_PEAK] > prof[_P_IMPACT] and st[_S_WIDE] != 0.0:
            flags |= IMPACT
        elif st[_S_SPIKE] >= prof[_P_SPIKE] and not constant:
            flags |= SPIKE
    warm = n >= warmup
    settled = n >= 3 * warmup
    level = False
    noise = False
    sq = 0.0
    for c in range(ch):
        total = 0.0
        for b in range(_N_BANDS):
            total += f[c, _BAND0 + b]
        total = max(total, 1e-300)
        dom = f[c, _DOM]
        tremor_band = prof[_P_THI] >= prof[_P_TLO] and prof[_P_TLO] <= dom <= prof[_P_THI]
        if tremor_band:
            inside = 0.0
            for b in range(int(prof[_P_TB0]), int(prof[_P_TB1]) + 1):
                inside += f[c, _BAND0 + b]
            if inside / total >= 0.9:
                flags |= TREMOR
        mean = np.float64(f[c, _MEAN])
        std = np.float64(f[c, _STD])
        hf = std * math.sqrt(f[c, _BAND0 + _N_BANDS - 1] / total)
        sq += mean * mean
        # roughness is one window's robust statistic: its check starts after two windows, and
        # compares with the smoother of the stream's usual and its last ordinary window (the
        # usual one lags behind a change of activity)
        usual = min(state[_ROUGH, c], state[_RECENT, c])
        rough_on = prof[_P_ROUGH] > 0 and rough[c] > 0 and usual > 0 and n >= 2
        if rough_on and not constant and rough[c] > max(prof[_P_ROUGH] * usual, 0.8 * std):
            noise = True
        if warm and not constant:
            if hf > prof[_P_NOISE] * max(state[_HF, c], 1e-12):
                noise = True
            if prof[_P_GRAV] <= 0:
                off = abs(mean - state[_REF, c])
                if settled and off > prof[_P_SIGMAS] * state[_DEV, c] and off > prof[_P_FLOOR]:
                    level = True
                ramp = std > prof[_P_STDR] * state[_STDB, c] and std > prof[_P_FLOOR] / 4
                if prof[_P_STDR] > 0 and ramp:
                    level = True
    slope = False
    if prof[_P_SLOPE] > 0 and n >= 1 and not constant:
        for c in range(ch):
            move = abs(np.float64(f[c, _MEAN]) - state[_PREV, c])  # NaN: no previous window
            if move > prof[_P_SLOPE] * state[_MOVE, c] and move > prof[_P_SFLOOR]:
                slope = True
    if prof[_P_SSTD] > 0 and warm and not constant:
        for c in range(ch):
            move = abs(np.float64(f[c, _MEAN]) - state[_PREV, c])  # NaN: no previous window
            if move > prof[_P_SSTD] * state[_STDB, c]:
                slope = True
    mean0 = np.float64(f[0, _MEAN])
    if slope:
        flags |= LEVEL
        delta[0] = mean0 - state[_REF, 0]
    if mean0 > prof[_P_HIGH]:
        flags |= LEVEL
        delta[0] = mean0 - prof[_P_HIGH]
    if warm and not constant:
        if prof[_P_GRAV] > 0:
            # a still wrist's mean is gravity within its calibration; motion leaves more of
            # itself in a window's mean, the more it moves (its busiest axis' std)
            tol = 0.2 * prof[_P_GRAV]
            if prof[_P_GREST] > 0:
                busiest = 0.0
                for c in range(ch):
                    busiest = max(busiest, np.float64(f[c, _STD]))
                tol = min(tol, prof[_P_GREST] * prof[_P_GRAV] + prof[_P_GSTD] * busiest)
            if abs(math.sqrt(sq) - prof[_P_GRAV]) > tol:
                level = True
        else:
            delta[0] = mean0 - state[_REF, 0]
        if level:
            flags |= LEVEL
    if noise:
        flags |= NOISE
    a = max(alpha, 1.0 / (n + 1))
    calm = True
    for c in range(ch):
        mean = np.float64(f[c, _MEAN])
        move = abs(mean - state[_PREV, c])
        state[_PREV, c] = mean
        if not move <= 3 * state[_MOVE, c] + prof[_P_FLOOR] / 4:  # NaN: not calm
            calm = False
        if flags or not math.isfinite(move):
            continue
        if state[_MOVE, c] == 0.0:
            state[_MOVE, c] = move
        elif n < warmup // 2 or move <= 3 * state[_MOVE, c] + prof[_P_FLOOR] / 4:
            state[_MOVE, c] += a * (move - state[_MOVE, c])
    if flags == LEVEL and calm and prof[_P_RESEAT] > 0:
        # a level that has stopped moving is the stream's new normal, not a drift in progress
        state[_HOLD, 0] += 1
        if state[_HOLD, 0] >= prof[_P_RESEAT]:
            state[_HOLD, 0] = 0
            for c in range(ch):
                state[_REF, c] = f[c, _MEAN]
    else:
        state[_HOLD, 0] = 0
    if flags:
        return flags, n
    # learn: a level already 3 usual distances off is not learnt (a slow drift must not become
    # the reference before it crosses the threshold)
    slow = max(alpha * prof[_P_REFRATE], 1.0 / (n + 1))
    keep_ref = settled
    if settled:
        for c in range(ch):
            if abs(f[c, _MEAN] - state[_REF, c]) > 3 * state[_DEV, c] + prof[_P_FLOOR] / 4:
                keep_ref = False
    for c in range(ch):
        mean = np.float64(f[c, _MEAN])
        std = np.float64(f[c, _STD])
        total = 0.0
        for b in range(_N_BANDS):
            total += f[c, _BAND0 + b]
        total = max(total, 1e-300)
        hf = std * math.sqrt(f[c, _BAND0 + _N_BANDS - 1] / total)
        if keep_ref or not settled:
            if n:
                state[_DEV, c] += slow * (abs(mean - state[_REF, c]) - state[_DEV, c])
            state[_REF, c] += slow * (mean - state[_REF, c])
        state[_STDB, c] += a * (std - state[_STDB, c])
        state[_HF, c] += a * (hf - state[_HF, c])
        if rough[c] > 0:
            state[_RECENT, c] = rough[c]
            if state[_ROUGH, c] == 0.0:
                state[_ROUGH, c] = rough[c]
            else:
                state[_ROUGH, c] += a * (rough[c] - state[_ROUGH, c])
    return 0, n + 1


#: Flag: a spectral line the stream's baseline spectrum does not have (e.g. a bearing defect).
LINE = 512
FLAG_NAMES[LINE] = "line"


@njit(**JIT)
def power_spectrum(x, win, out):  # pragma: no cover - compiled
    """Hann-windowed power spectrum of each channel of ``x`` (channels, n) into ``out``
    (channels, n // 2), bins 1 .. n // 2 (DC left out)."""
    ch, n = x.shape
    m = n // 2
    zw = np.empty(n, dtype=np.float64)
    for c in range(ch):
        mean = 0.0
        for i in range(n):
            mean += x[c, i]
        mean /= n
        for i in range(n):
            zw[i] = (x[c, i] - mean) * win[i]
        sre, sim = rfft(zw)
        for k in range(1, m + 1):
            out[c, k - 1] = sre[k] * sre[k] + sim[k] * sim[k]


@njit(**JIT)
def new_line_ratio(p, base):  # pragma: no cover - compiled
    """Largest ``p / baseline`` over bins, the baseline of a bin being the max of the stream's
    average power over that bin and its two neighbours on each side (so that a harmonic that
    wanders a bin with the load is not new)."""
    ch, m = p.shape
    best = 0.0
    for c in range(ch):
        for k in range(m):
            b = 0.0
            for j in range(max(0, k - 2), min(m, k + 3)):
                b = max(b, base[c, j])
            if b > 0.0:
                best = max(best, p[c, k] / b)
    return best


@njit(**JIT)
def axes_ratio(p, base, out):  # pragma: no cover - compiled
    """Into ``out`` (n // 2,): for each bin, the mean over the channels of ``p / baseline``
    (the baseline as in :func:`new_line_ratio`; a channel without one adds 0). A line that
    the axes share adds up, while their noise, independent, averages out."""
    ch, m = p.shape
    for k in range(m):
        total = 0.0
        for c in range(ch):
            b = 0.0
            for j in range(max(0, k - 2), min(m, k + 3)):
                b = max(b, base[c, j])
            if b > 0.0:
                total += p[c, k] / b
        out[k] = total / ch


@njit(**JIT)
def learn_bins(p, base, a, below):  # pragma: no cover - compiled
    """Move each bin of ``base`` towards ``p`` by ``a``, except bins ``below`` times above it."""
    ch, m = p.shape
    for c in range(ch):
        for k in range(m):
            if base[c, k] == 0.0 or p[c, k] < below * base[c, k]:
                base[c, k] += a * (p[c, k] - base[c, k])


def _fold_min(held: np.ndarray, ring: np.ndarray, last: int, start: int, stop: int) -> None:
    """Fold the ring's rows ``start`` .. ``stop - 1`` windows before ``last`` into the running
    minimum ``held`` (row 0, the latest, starts it): one pass up an ascending ladder."""
    size = len(ring)
    for j in range(start, stop):
        row = ring[(last - j) % size]
        if j:
            np.minimum(held, row, out=held)
        else:
            np.copyto(held, row)


class LineWatch:
    """Flags :data:`LINE` when a window's spectrum holds a line ``ratio`` times above the
    stream's baseline spectrum, or when, for some ``k`` of ``persist``, the last ``k`` windows
    all hold one the matching ``persist_ratio`` times above it (a weak line that stays: one
    window's periodogram bin is exponentially distributed about its mean, so a single window
    needs a high ratio to be sure, while the minimum of a few consecutive windows of noise is
    rarely above a few times the mean — the more windows, the lower the bar; a bearing
    defect's line is seen when it first rises above the noise, not minutes later when it has
    grown); once found, a line stays found while the longest persistent ratio is above
    ``hold`` times its ``persist_ratio`` (one episode for one defect, not a flicker of them
    while it hovers at the threshold). The baseline is the average power per bin,
    learnt with weight ``alpha`` (after ``warmup`` windows; plain averages before) from
    unflagged windows, bin by bin, leaving out bins ``learn_below`` times above their baseline
    — so a line that grows slowly is never learnt as normal (nor any bin while the persistent
    ratio is above the hold level). The cloud runs it on raw vibration windows.

    A stream of three or more axes is also checked across them (``axes``, ``axes_ratio``): a
    rolling element's defect shakes the machine radially, so its line shows on two or three
    axes at once, while their noise is independent. The mean over the axes of each bin's ratio
    (:func:`axes_ratio`) has a far lighter tail than any one axis' ratio, so a lower bar holds
    as well against noise: for ``k`` of ``axes``, the minimum over the last ``k`` windows of
    that mean, above the matching ``axes_ratio``, flags too. Over 66 machine-hours of the
    simulator's noise (seeds 1, 2, 7, 11-14) the mean's maxima were 11.2, 6.1 and 4.4 for one,
    two and three windows; a line is then seen a window or two before one axis alone shows
    it."""

    def __init__(
        self,
        channels: int,
        n: int,
        *,
        ratio: float = 25.0,
        learn_below: float = 4.0,
        alpha: float = 0.01,
        warmup: int = 32,
        persist: tuple[int, ...] = (3, 4),
        persist_ratio: tuple[float, ...] = (9.0, 6.0),
        hold: float = 0.5,
        axes: tuple[int, ...] = (1, 2, 3),
        axes_ratio: tuple[float, ...] = (13.0, 7.5, 5.5),
    ) -> None:
        from kernels._spectral import hann

        if len(persist) != len(persist_ratio) or not persist or min(persist) < 1:
            raise ValueError("persist and persist_ratio: one ratio per window count (>= 1)")
        if len(axes) != len(axes_ratio) or (axes and min(axes) < 1):
            raise ValueError("axes and axes_ratio: one ratio per window count (>= 1)")
        self.ratio = float(ratio)
        #: (windows, ratio) of the persistence checks, the longest last (it holds and gates)
        self.ladder = sorted(zip(map(int, persist), map(float, persist_ratio), strict=True))
        #: (windows, ratio) of the checks across axes (none for fewer than three axes)
        self.axes_ladder = (
            sorted(zip(map(int, axes), map(float, axes_ratio), strict=True))
            if channels >= 3
            else []
        )
        longest_axes = self.axes_ladder[-1][0] if self.axes_ladder else 1
        self._axes = np.zeros((longest_axes, n // 2))
        self._axes_held = np.zeros(n // 2)
        self.hold = float(hold)
        self._on = False  # the last window held a line
        self.learn_below = float(learn_below)
        self.alpha = float(alpha)
        self.warmup = int(warmup)
        self.n = 0
        self._win = np.ascontiguousarray(hann(n))
        self._recent = np.zeros((self.ladder[-1][0], channels, n // 2))
        self._held = np.zeros((channels, n // 2))
        self._filled = 0  # consecutive windows in ``_recent``
        self.base = np.zeros((channels, n // 2))

    @property
    def persistent(self) -> bool:
        """Whether the last check saw the longest ``persist`` windows up to it, one after the
        other (the cloud, which gets only some windows' samples, often has not)."""
        return self._filled >= len(self._recent)

    def check(self, samples: np.ndarray, *, learn: bool, follows: bool = True) -> float:
        """The window's line score (0 until warm): its new-line ratio, or the persistent one
        scaled so that ``ratio`` flags both; learns from it when ``learn``. A window that does
        not follow the previous one (``follows`` False) restarts the persistence."""
        if not follows:
            self._filled = 0
        if samples.shape[1] // 2 != self._held.shape[1] or not np.isfinite(samples).all():
            self._filled = 0  # a gap: the windows around it are not consecutive
            return 0.0
        size = len(self._recent)
        last = self._filled % size
        p = self._recent[last]
        power_spectrum(np.ascontiguousarray(samples), self._win, p)
        self._filled += 1
        warm = self.n >= self.warmup
        ratio = new_line_ratio(p, self.base) if warm else 0.0
        if warm and self.axes_ladder:
            ratio = max(ratio, self._across_axes(p))
        held = 0.0
        depth = 0  # windows in the running minimum ``_held``, the latest first
        for k, bar in self.ladder if warm else ():
            if self._filled < k:
                break
            _fold_min(self._held, self._recent, last, depth, k)  # the ladder is ascending
            depth = k
            held = new_line_ratio(self._held, self.base)
            hold = self._on and k == self.ladder[-1][0]
            ratio = max(ratio, held * self.ratio / (bar * (self.hold if hold else 1.0)))
        self._on = ratio >= self.ratio
        # a line may be there, below the threshold: none of its bins are learnt
        longest, bar = self.ladder[-1]
        if learn and (self._filled < longest or held < self.hold * bar):
            a = self.alpha if warm else 1.0 / (self.n + 1)
            learn_bins(p, self.base, a, self.learn_below if warm else np.inf)
            self.n += 1
        return ratio

    def _across_axes(self, p: np.ndarray) -> float:
        """The window's score across axes (scaled so that ``ratio`` flags), from its spectrum
        ``p``; ``_filled`` already counts it."""
        size = len(self._axes)
        last = (self._filled - 1) % size
        axes_ratio(p, self.base, self._axes[last])
        best = 0.0
        depth = 0
        for k, bar in self.axes_ladder:
            if self._filled < k:
                break
            _fold_min(self._axes_held, self._axes, last, depth, k)
            depth = k
            best = max(best, float(self._axes_held.max()) * self.ratio / bar)
        return best
