"""The cloud's judgement of a window: is it anomalous, of what kind. Pure, no I/O.

The core judges every window it stores, and the simulator's in-process cloud runs this same code.
Per device it runs :class:`kernels.DeviceScreen` — the checks devices run, here on the samples
whenever a window brought them (RAW, BOTH, point-compressed), else on the features — including
those that need samples or several sensors: new spectral lines on vibration (bearing defects),
and a pulse that the wearer's activity does not explain on PPG.

Where the cloud's own checks find nothing, the device's screening flags decide if the cloud
could not judge for itself — it got no samples (features only, or a flag-only record), or its
baseline of the stream is not warm yet: the crisp flags (everything but ``novel``) are taken on
trust, since the device saw the samples. So are its ``noise`` and ``level`` flags on a window
whose predecessor the cloud did not see (their roughness and slope checks compare the two).
A ``novel`` flag alone never makes an alert:
unconfirmed novelty is where false alarms come from.

Kinds, by the first flag that applies: ``nan`` dropout, ``constant`` stuck, ``impact`` fall,
``pinned`` clipping, ``spike`` spike, ``tremor`` tremor, ``line`` bearing_fault, ``rate``
arrhythmia, ``noise`` noise_burst, ``level`` overheat (temperatures going up) or drift.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import kernels
import protos
from kernels import _screen as scr

__all__ = ["Evidence", "Judge", "JudgeConfig", "Verdict", "kind_of"]

RATE = kernels.RATE
_TRUTH = int(protos.WindowFlag.FLAG_TRUTH)
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
    if not flags:
        return ""
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
    screen: kernels.ScreenConfig = field(default_factory=kernels.ScreenConfig)


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


class Judge:
    """Judges windows device by device (a :class:`kernels.DeviceScreen` each)."""

    def __init__(self, config: JudgeConfig | None = None) -> None:
        self.config = config or JudgeConfig()
        self._devices: dict[tuple[str, str], kernels.DeviceScreen] = {}

    def judge(self, ev: Evidence) -> Verdict:
        """Judge one window (and learn from it when it is ordinary)."""
        tenant, device, sensor = ev.key
        return self.judge_window(
            tenant, device, sensor, ev.t0_ns, ev.rate_hz, ev.n_samples, ev.features,
            ev.samples, ev.novelty, ev.flags,
        )  # fmt: skip

    def judge_window(
        self,
        tenant: str,
        device: str,
        sensor: str,
        t0_ns: int,
        rate_hz: float,
        n_samples: int,
        features: np.ndarray | None,
        samples: np.ndarray | None,
        novelty: float,
        device_flags: int,
    ) -> Verdict:
        """:meth:`judge` on the fields of an :class:`Evidence`, for callers that hold them
        apart (the core's ingest judges every window: no Evidence built for each)."""
        if features is None or not len(features):
            crisp = device_flags & _CRISP
            return Verdict(bool(crisp), kind_of(crisp, sensor), novelty, False, crisp)
        screen = self._devices.get((tenant, device))
        if screen is None:
            screen = self._devices[(tenant, device)] = kernels.DeviceScreen(self.config.screen)
        got = screen.screen(sensor, t0_ns, rate_hz, n_samples, features, samples)
        # what the device saw between this window and the last one we did, we did not
        flags = got.flags | (device_flags & got.blind)
        if not flags and (samples is None or not got.warm or device_flags & _TRUTH):
            # the device saw samples we did not, or saw them with a baseline we lack yet
            flags = device_flags & _CRISP
        kind = kind_of(flags, sensor, got.level_delta)
        return Verdict(bool(flags), kind, got.score or novelty, samples is not None, flags)
