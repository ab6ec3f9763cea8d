"""The synergy uplink: what an unusual window is worth sending, and what an ordinary one is not.

With ``uplink="synergy"`` the device screens every window (:class:`kernels.DeviceScreen`: the
same checks the cloud runs, with the device's own baselines, since it sees every sample) and
scores its novelty, then:

* an **ordinary** window (no screening flag) is not sent: it is folded into its sensor's
  :class:`protos.Summary` (count, time span, mean/min/max of the policy's feature set), which
  goes up with the next heartbeat — a summary counts as its windows in the cloud's rollups. A
  window that is only *novel* (its novelty score reached the threshold, no screening flag) is
  folded in too and counted (``Summary.novel``: the rate the cloud's policy engine steers the
  threshold by); it goes RAW, flagged novel, when the budget has room beyond its ``reserve`` —
  the cloud confirms novelty only with samples. One ordinary window in ``1 / explore_fraction``
  goes RAW likewise, so the cloud keeps samples of what ordinary looks like.
* a **flagged** window opens or continues an *episode* (flagged windows of one sensor at most
  ``episode_gap`` windows apart). The first ``raw_per_episode`` windows of an episode, and any
  window whose flags are new to it, go RAW when the budget affords them — the evidence the
  cloud confirms with — and so does any later one while the budget has room beyond its
  ``reserve``; the first window goes COMPACT (flags, novelty, a float16 feature subset) when
  RAW is out of reach. The first window of an episode is *urgent*: its batch is published at
  once, so the cloud can raise the alert within a window of the onset. The other windows of the
  episode that do not go RAW are one *run*: a single COMPACT record that stands for them
  (``repeat``), sent when the flags change, after ``run_max`` windows, or when the episode ends.

The budget is a hard limit enforced where bytes leave (the engine's token bucket pays every
publish of the up topic, MQTT framing included, and holds back what it cannot pay); the
decisions here only keep the queue from growing: RAW only when the tokens not already promised
to queued batches cover it (keeping ``reserve`` of the bucket for urgent windows when the window
is not urgent). Below ``low_battery`` the device spends less: one RAW window per episode, no
novel-only or exploration RAW, compact records without features — and its bucket refills at
half its rate (the engine's ``LOW_BATTERY_REFILL``), so it spends at most half its budget over
any long period whatever the signal. A cloud policy (``Policy`` command) may change the novelty
threshold, ``raw_per_episode``, the heartbeat and the budget; the device acks it and reports
the policy version it runs in its health.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

import kernels
import protos
from device_sdk._edge import Choice, WindowView
from device_sdk._encode import COMPACT, RAW, SKIP, WindowRecord, encode_raw

__all__ = ["DEFAULT_FEATURE_SET", "Synergy", "SynergyConfig"]

_F = len(kernels.FEATURE_NAMES)
#: Features summarised and sent in compact records unless a policy says otherwise.
DEFAULT_FEATURE_SET: tuple[int, ...] = tuple(
    kernels.FEATURE_NAMES.index(n) for n in ("mean", "std", "min", "max", "dominant_freq")
)
_NOVEL = int(protos.WindowFlag.FLAG_NOVEL)
#: Bytes a window adds to a batch around its raw samples or compact features (sensor, times,
#: shape, mode, novelty, flags, field tags), and a batch's own framing with MQTT's.
WINDOW_OVERHEAD = 40
PUBLISH_OVERHEAD = 90


@dataclass(frozen=True, slots=True)
class SynergyConfig:
    """Settings of the synergy uplink (a cloud policy may change them)."""

    novelty_threshold: float = 4.0
    raw_per_episode: int = 2
    episode_gap: float = 2.0
    run_max: int = 32
    explore_fraction: float = 0.0
    feature_set: tuple[int, ...] = DEFAULT_FEATURE_SET
    reserve: float = 0.25
    low_battery: float = 0.2


@dataclass
class _Summary:
    sensor: str
    channels: int
    rate_hz: float
    n_samples: int
    index: tuple[int, ...]
    t0: int = 0
    t1: int = 0
    windows: int = 0
    sent: int = 0
    novel: int = 0
    novelty_max: float = 0.0
    total: np.ndarray = field(default_factory=lambda: np.zeros(0))
    lo: np.ndarray = field(default_factory=lambda: np.zeros(0))
    hi: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def add(self, t0: int, t1: int, features: np.ndarray, novelty: float) -> None:
        sel = features.reshape(self.channels, _F)[:, list(self.index)].astype(np.float64)
        if not self.windows:
            self.t0 = t0
            self.total, self.lo, self.hi = sel.copy(), sel.copy(), sel.copy()
        else:
            self.total += sel
            np.minimum(self.lo, sel, out=self.lo)
            np.maximum(self.hi, sel, out=self.hi)
        self.t1 = max(self.t1, t1)
        self.windows += 1
        self.novelty_max = max(self.novelty_max, novelty)

    def proto(self) -> protos.Summary:
        half = np.float16
        return protos.Summary(
            sensor=self.sensor,
            t0_ns=self.t0,
            t1_ns=self.t1,
            windows=self.windows,
            channels=self.channels,
            rate_hz=self.rate_hz,
            n_samples=self.n_samples,
            index=self.index,
            mean=(self.total / self.windows).astype(half).astype("<f2").tobytes(),
            min=self.lo.astype(half).astype("<f2").tobytes(),
            max=self.hi.astype(half).astype("<f2").tobytes(),
            novelty_max=self.novelty_max,
            sent=self.sent,
            novel=self.novel,
        )


@dataclass
class _Run:
    """Flagged windows of an episode sent as one COMPACT record."""

    view: WindowView  # its first window
    last: WindowView
    count: int
    flags: int
    novelty: float


@dataclass
class _Stream:
    summary: _Summary
    last_flag_end: int = -(1 << 62)
    episode_flags: int = 0
    episode_raw: int = 0
    windows: int = 0
    run: _Run | None = None


class Synergy:
    """The synergy decisions of one device (owned by its engine; no threads, no I/O).

    ``available()`` tells how many budget bytes are not yet promised (the bucket's level minus
    what waits in the outbox), ``battery()`` the battery level.
    """

    def __init__(
        self,
        config: SynergyConfig,
        *,
        seed: int,
        available: Callable[[], float],
        capacity: Callable[[], float],
        battery: Callable[[], float],
    ) -> None:
        self.config = config
        self.screen = kernels.DeviceScreen()
        self._seed = seed
        self._available = available
        self._capacity = capacity
        self._battery = battery
        self._streams: dict[str, _Stream] = {}
        #: COMPACT records of closed runs, for the engine to send (it empties the list)
        self.ready: list[WindowRecord] = []

    def _stream(self, w: WindowView) -> _Stream:
        st = self._streams.get(w.spec.name)
        if st is None or st.summary.channels != w.spec.channels:
            st = _Stream(self._summary(w))
            self._streams[w.spec.name] = st
        return st

    def _summary(self, w: WindowView) -> _Summary:
        s = w.spec
        return _Summary(s.name, s.channels, s.rate_hz, s.window, tuple(self.config.feature_set))

    def decide(self, w: WindowView) -> Choice:
        cfg = self.config
        st = self._stream(w)
        st.windows += 1
        length = round(w.spec.window * 1e9 / w.spec.rate_hz)
        end = w.t0_ns + length
        screened = self.screen.screen(
            w.spec.name, w.t0_ns, w.spec.rate_hz, w.spec.window, w.features, w.samples
        )
        flags = screened.flags
        novel = w.novelty >= cfg.novelty_threshold
        low = self._battery() < cfg.low_battery
        if not flags:
            self._close_run(st)
            explore = cfg.explore_fraction > 0 and self._draw(st) < cfg.explore_fraction
            if (novel or explore) and not low:
                raw = encode_raw(w.samples)
                if self._affords(len(raw), urgent=False):
                    st.summary.sent += 1
                    return Choice(RAW, raw=raw, flags=_NOVEL if novel else 0)
            st.summary.add(w.t0_ns, end, w.features, w.novelty)
            st.summary.novel += novel
            return Choice(SKIP)
        if novel:
            flags |= _NOVEL
        st.summary.sent += 1
        new_episode = w.t0_ns - st.last_flag_end > cfg.episode_gap * length
        if new_episode:
            self._close_run(st)
            st.episode_flags = st.episode_raw = 0
        st.last_flag_end = end
        new_flags = flags & ~st.episode_flags & ~_NOVEL
        st.episode_flags |= flags
        evidence = st.episode_raw < (1 if low else cfg.raw_per_episode) or bool(new_flags)
        if evidence or not low:
            raw = encode_raw(w.samples)
            if self._affords(len(raw), urgent=evidence):
                self._close_run(st)
                st.episode_raw += 1
                return Choice(RAW, raw=raw, flags=flags, urgent=new_episode)
        if new_episode:
            return Choice(COMPACT, flags=flags, urgent=True, compact=not low)
        run = st.run
        if run is not None and (new_flags or run.count >= cfg.run_max):
            self._close_run(st)
            run = None
        if run is None:
            st.run = _Run(w, w, 1, flags, w.novelty)
        else:
            run.last, run.count = w, run.count + 1
            run.flags |= flags
            run.novelty = max(run.novelty, w.novelty)
        return Choice(SKIP)

    def _close_run(self, st: _Stream) -> None:
        run, st.run = st.run, None
        if run is None:
            return
        v = run.view
        rec = WindowRecord(
            v.spec.name, v.t0_ns, v.spec.rate_hz, v.spec.channels, v.spec.window,
            run.last.features, None, COMPACT, run.novelty, sdk_timed=v.sdk_timed,
            flags=run.flags, compact=tuple(self.config.feature_set), repeat=run.count,
        )  # fmt: skip
        self.ready.append(rec)

    def close_runs(self) -> None:
        """Send every open run now (at a heartbeat, or when the device closes)."""
        for st in self._streams.values():
            self._close_run(st)

    def _affords(self, raw_len: int, *, urgent: bool) -> bool:
        """Evidence (``urgent``) may spend the whole bucket; other RAW keeps the reserve."""
        need = raw_len + WINDOW_OVERHEAD + PUBLISH_OVERHEAD
        keep = 0.0 if urgent else self.config.reserve * self._capacity()
        return self._available() - keep >= need

    def _draw(self, st: _Stream) -> float:
        return (zlib.crc32(st.windows.to_bytes(8, "little"), self._seed) & 0xFFFFFF) / 0x1000000

    def take_summaries(self) -> list[protos.Summary]:
        """Every sensor's summary of the ordinary windows since the last call (then reset)."""
        out = []
        for st in self._streams.values():
            s = st.summary
            if s.windows:
                out.append(s.proto())
            st.summary = _Summary(
                s.sensor, s.channels, s.rate_hz, s.n_samples, tuple(self.config.feature_set)
            )
        return out
