"""Offload policies the evaluation scores, as device firmware would run them.

Each policy is a decider plugged into the real device engine (``device_sdk`` ``Edge``): it sees
every window — samples, features, the SDK's novelty score — and chooses what goes upstream. The
windows, batches, outbox and transport are the SDK's own for every policy.

==================  ========================================================================
policy              per window
==================  ========================================================================
``all_cloud``       RAW, lossless: the all-cloud baseline (``rho`` = 1 by definition)
``all_edge``        FEATURES only
``periodic``        RAW one window in ``k`` (per sensor, from a per-device phase), else nothing;
                    ``k`` fitted so the bytes meet the budget
``send_on_delta``   every window's samples by send-on-delta (exception reporting, step
                    rebuild), deviation ``E`` fitted to the budget
``swinging_door``   every window's samples by swinging-door compression (linear rebuild),
                    ``E`` fitted to the budget
``binhai``          the SDK's own decision (:meth:`Edge.budgeted`): under the device's uplink
                    budget (a token bucket of ``budget`` x the device's all-cloud byte rate)
``oracle``          RAW exactly on the windows that overlap a true event or sensor fault,
                    flagged ``FLAG_TRUTH``; nothing else (the floor: it knows the truth)
==================  ========================================================================

For the two historian baselines ``E`` is per channel: ``deviation`` times the channel's running
spread (an exponential average of the window std the device computes anyway), as a historian
sets each tag's exception deviation from the tag's normal variability.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import kernels
import protos
from device_sdk._edge import Choice, Decider, WindowView

__all__ = ["BUDGETED", "POLICIES", "PolicyParams", "Truth", "make_decider"]

POLICIES = (
    "all_cloud",
    "all_edge",
    "periodic",
    "send_on_delta",
    "swinging_door",
    "binhai",
    "oracle",
)
#: Policies whose bytes follow the budget (the others ignore it).
BUDGETED = ("periodic", "send_on_delta", "swinging_door", "binhai")

_RAW = int(protos.Offload.OFFLOAD_RAW)
_FEATURES = int(protos.Offload.OFFLOAD_FEATURES)
_SKIP = 0
_TRUTH = int(protos.WindowFlag.FLAG_TRUTH)
_STD = kernels.FEATURE_NAMES.index("std")
_F = len(kernels.FEATURE_NAMES)

#: truth(sensor, t0_ns, length_ns) -> whether the window overlaps a true event or sensor fault
Truth = Callable[[str, int, int], bool]


@dataclass(frozen=True, slots=True)
class PolicyParams:
    """A policy and its fitted parameter: ``period`` (periodic) or ``deviation`` (historians)."""

    name: str
    budget: float | None = None
    period: int = 1
    deviation: float = 0.0

    def __post_init__(self) -> None:
        if self.name not in POLICIES:
            raise ValueError(f"unknown policy {self.name!r} (one of {', '.join(POLICIES)})")
        if self.period < 1:
            raise ValueError("period must be >= 1")


def make_decider(params: PolicyParams, *, device: str, truth: Truth) -> Decider | None:
    """The decider of ``params`` for one device (``None``: the SDK's own decision)."""
    name = params.name
    if name == "all_cloud":
        return lambda w: Choice(_RAW)
    if name == "all_edge":
        return lambda w: Choice(_FEATURES)
    if name == "periodic":
        return _Periodic(params.period, zlib.crc32(device.encode()))
    if name in ("send_on_delta", "swinging_door"):
        return _Historian(params.deviation, name == "swinging_door")
    if name == "oracle":
        return _Oracle(truth)
    return None


class _Periodic:
    def __init__(self, k: int, seed: int) -> None:
        self.k = k
        self.phase = seed % k
        self.counts: dict[str, int] = {}

    def __call__(self, w: WindowView) -> Choice:
        i = self.counts.get(w.spec.name, 0)
        self.counts[w.spec.name] = i + 1
        return Choice(_RAW if i % self.k == self.phase else _SKIP)


class _Historian:
    """Send-on-delta (HOLD) or swinging door (LINEAR) on every window."""

    def __init__(self, deviation: float, linear: bool) -> None:
        self.deviation = deviation
        self.mode = kernels.LINEAR if linear else kernels.HOLD
        self.codec = kernels.CODEC_POINTS_LINEAR if linear else kernels.CODEC_POINTS_HOLD
        self.spread: dict[str, np.ndarray] = {}

    def __call__(self, w: WindowView) -> Choice:
        std = w.features.reshape(-1, _F)[:, _STD].astype(np.float64)
        prev = self.spread.get(w.spec.name)
        ok = np.isfinite(std)
        if prev is None:
            prev = np.where(ok, std, 0.0)
        else:
            prev = np.where(ok, 0.95 * prev + 0.05 * np.where(ok, std, 0.0), prev)
        self.spread[w.spec.name] = prev
        e = self.deviation * prev
        raw = kernels.encode_points(w.samples, e, self.mode)
        return Choice(_RAW, raw=raw, codec=self.codec)


class _Oracle:
    def __init__(self, truth: Truth) -> None:
        self.truth = truth

    def __call__(self, w: WindowView) -> Choice:
        length = round(w.spec.window * 1e9 / w.spec.rate_hz)
        if self.truth(w.spec.name, w.t0_ns, length):
            return Choice(_RAW, flags=_TRUTH)
        return Choice(_SKIP)
