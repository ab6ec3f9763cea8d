"""binhai kernels: compiled window features, detectors, codecs and the offload decision.

The same code runs on devices (one window at a time, compiled ahead of time when the package was
installed: no Numba at run time) and in the cloud (many windows, in parallel, Numba JIT); both
give the same bits. ``BINHAI_KERNELS`` chooses (:mod:`kernels._backend`). Every public function
here is a typed wrapper that validates its inputs, allocates the outputs and calls a private
compiled kernel; invalid input raises :class:`KernelError`.

See docs/kernels.md for the feature definitions, the NaN policy and the codec format.
"""

from __future__ import annotations

from kernels._codec import decode_samples, encode_samples
from kernels._detectors import HeartRateEstimator, StepCounter
from kernels._errors import CodecError, KernelError, KernelInputError, StateError
from kernels._features import (
    ALGO_VERSION,
    AUTOCORR_LAGS,
    FEATURE_NAMES,
    window_features,
    window_features_batch,
)
from kernels._novelty import NoveltyScorer
from kernels._offload import (
    BOTH,
    FEATURES,
    RAW,
    OffloadPolicy,
    TokenBucket,
    decide_offload,
)
from kernels._points import (
    CODEC_BINHAI,
    CODEC_F32LE,
    CODEC_POINTS_HOLD,
    CODEC_POINTS_LINEAR,
    HOLD,
    LINEAR,
    decode_points,
    decode_window,
    encode_points,
    rebuild,
    select_points,
)
from kernels._pulse import PulseConfig
from kernels._screen import (
    FLAG_NAMES,
    PROFILES,
    LineWatch,
    Screen,
    SensorProfile,
    profile_for,
)
from kernels._screening import RATE, DeviceScreen, ScreenConfig, Screened
from kernels._thermal import ThermalConfig
from kernels._warm import warm_up

__all__ = [
    "ALGO_VERSION",
    "AUTOCORR_LAGS",
    "BOTH",
    "CODEC_BINHAI",
    "CODEC_F32LE",
    "CODEC_POINTS_HOLD",
    "CODEC_POINTS_LINEAR",
    "FEATURES",
    "FEATURE_NAMES",
    "FLAG_NAMES",
    "HOLD",
    "LINEAR",
    "PROFILES",
    "RATE",
    "RAW",
    "CodecError",
    "DeviceScreen",
    "HeartRateEstimator",
    "KernelError",
    "KernelInputError",
    "LineWatch",
    "NoveltyScorer",
    "OffloadPolicy",
    "PulseConfig",
    "Screen",
    "ScreenConfig",
    "Screened",
    "SensorProfile",
    "StateError",
    "StepCounter",
    "ThermalConfig",
    "TokenBucket",
    "decide_offload",
    "decode_points",
    "decode_samples",
    "decode_window",
    "encode_points",
    "encode_samples",
    "profile_for",
    "rebuild",
    "select_points",
    "warm_up",
    "window_features",
    "window_features_batch",
]
