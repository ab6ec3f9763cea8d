"""The edge loop of one device: samples -> windows -> features -> novelty -> offload decision.

Owned by the device engine; no I/O, no threads. SDK-timed streams (``push(..., t0=None)``) are
stamped on the monotonic clock; app-timed ones keep the app's Unix time.

The offload decision is the SDK's own (:func:`kernels.decide_offload` under the token bucket)
unless a :data:`Decider` is given: a function from a :class:`WindowView` to a :class:`Choice`,
which may also skip a window (send nothing) or send its samples in another codec. The simulator
plugs its baseline policies in here, so they run through the same windows, batches and outbox.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np

import kernels
import protos
from device_sdk._config import Budget, SensorSpec
from device_sdk._encode import BOTH, RAW, WindowRecord, encode_raw
from device_sdk._windows import NS, Windower

_N_FEATURES = len(kernels.FEATURE_NAMES)
_NOVEL = int(protos.WindowFlag.FLAG_NOVEL)


@dataclass(frozen=True, slots=True)
class WindowView:
    """What a decider sees of a window: ``samples`` (channels, n) float32, its features."""

    spec: SensorSpec
    t0_ns: int
    samples: np.ndarray
    features: np.ndarray
    novelty: float
    now_ns: int
    battery: float


@dataclass(frozen=True, slots=True)
class Choice:
    """A decider's answer: ``mode`` (``SKIP``, ``FEATURES``, ``RAW``, ``BOTH``), when the mode
    carries samples their encoding (``None``: the lossless codec), and the window's flags."""

    mode: int
    raw: bytes | None = None
    codec: int = kernels.CODEC_BINHAI
    flags: int = 0


Decider = Callable[[WindowView], Choice]


@dataclass
class SensorState:
    spec: SensorSpec
    windower: Windower
    scorer: kernels.NoveltyScorer
    sdk_timed: bool = False


@dataclass(frozen=True, slots=True)
class Processed:
    """A window and what it cost: its record, its samples (channels, n) and CPU ns."""

    record: WindowRecord
    samples: np.ndarray
    cpu_ns: int


class Edge:
    def __init__(
        self,
        *,
        policy: kernels.OffloadPolicy,
        budget: Budget,
        seed: int,
        mono: Callable[[], int] = time.monotonic_ns,
        decider: Decider | None = None,
    ) -> None:
        self.policy = policy
        self.decider = decider
        self.budget = budget
        self.battery = 1.0
        self.states: dict[str, SensorState] = {}
        self._seed = seed
        self._mono = mono
        self._bucket = kernels.TokenBucket(budget.bytes_per_s, budget.burst_bytes)
        self._bucket_at = mono()

    def state(self, spec: SensorSpec) -> SensorState:
        st = self.states.get(spec.name)
        if st is None:
            scorer = kernels.NoveltyScorer(spec.channels * _N_FEATURES)
            st = SensorState(spec, Windower(spec), scorer)
            self.states[spec.name] = st
        return st

    def process(
        self, spec: SensorSpec, samples: np.ndarray, t0_ns: int | None
    ) -> Iterator[Processed]:
        """Window ``samples`` (channels, n) of ``spec``; yield each completed window."""
        st = self.state(spec)
        spec = st.spec  # the current one (a policy may have changed the window length)
        if t0_ns is not None:
            st.sdk_timed = False
        elif st.windower.expected_next_ns() is None:
            t0_ns = self._mono() - round(samples.shape[1] * NS / spec.rate_hz)
            st.sdk_timed = True
        for w_t0, data in st.windower.push(samples, t0_ns):
            started = time.thread_time_ns()
            feats = self._features(data, spec)
            novelty = float(st.scorer.update(feats))
            view = WindowView(spec, w_t0, data, feats, novelty, self._mono(), self.battery)
            choice = (self.decider or self.budgeted)(view)
            mode = choice.mode
            raw = choice.raw
            if raw is None and mode in (RAW, BOTH):
                raw = encode_raw(data)
            rec = WindowRecord(
                spec.name,
                w_t0,
                spec.rate_hz,
                spec.channels,
                spec.window,
                feats,
                raw,
                mode,
                novelty,
                sdk_timed=st.sdk_timed,
                codec=choice.codec,
                flags=choice.flags,
            )
            yield Processed(rec, data, time.thread_time_ns() - started)

    @staticmethod
    def _features(data: np.ndarray, spec: SensorSpec) -> np.ndarray:
        if spec.channels == 1:
            return kernels.window_features(data[0], spec.rate_hz)
        return np.concatenate(
            [kernels.window_features(data[c], spec.rate_hz) for c in range(spec.channels)]
        )

    def budgeted(self, w: WindowView) -> Choice:
        """The SDK's own decision: :func:`kernels.decide_offload` under the token bucket."""
        flags = _NOVEL if w.novelty >= self.policy.novelty_threshold else 0
        return Choice(self._decide(w.novelty, w.samples.nbytes, w.features.nbytes), flags=flags)

    def _decide(self, novelty: float, raw_bytes: int, feature_bytes: int) -> int:
        now = self._mono()
        self._bucket.advance((now - self._bucket_at) / NS)
        self._bucket_at = now
        self._seed += 1
        modes = self._bucket.decide(
            np.array([novelty], dtype=np.float64),
            np.array([raw_bytes], dtype=np.int64),
            np.array([feature_bytes], dtype=np.int64),
            battery=self.battery,
            policy=self.policy,
            seed=self._seed,
        )
        return int(modes[0])

    def set_budget(self, budget: Budget) -> None:
        self.budget = budget
        level = min(self._bucket.level, float(budget.burst_bytes))
        self._bucket = kernels.TokenBucket(budget.bytes_per_s, budget.burst_bytes, level=level)

    def set_window(self, spec: SensorSpec) -> SensorSpec:
        """Change the window length of an existing or future stream, keeping pending samples."""
        st = self.states.get(spec.name)
        if st is not None:
            st.windower = st.windower.resized(spec)
            st.spec = spec
        return spec

    def resize(self, spec: SensorSpec, window: int) -> SensorSpec:
        """``spec`` with ``window`` samples, the hop scaled to keep its overlap."""
        hop = max(1, round(spec.hop * window / spec.window))
        return replace(spec, window=window, hop=min(hop, window))
