"""Windows as evidence, anomalous windows as episodes: the pure part of the core's alerting.

:func:`window_evidence` is the one place where a received window becomes the
:class:`~cloud_core.Judge`'s :class:`~cloud_core.Evidence`: the features are the cloud's own,
computed from the decoded samples, when the window brought samples (RAW, BOTH,
point-compressed), else the device's; a window with neither (COMPACT, flag-only) is judged on
its flags and novelty. The core's ingest builds evidence with it, and so should every other
judge of windows (the simulator's in-process cloud), so that they judge the same thing.

:func:`join_episode` puts one anomalous window into the episodes of its stream with the rule of
:class:`~cloud_core.AlertTracker`: two anomalous windows are one episode when the gap between
them is at most ``gap_windows`` window lengths; the first such episode is extended, else a new
one opens. The core applies it to the episodes stored in ``alerts``
(:mod:`cloud_core._alert_store`), inside the ingest transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

import kernels
import protos
from cloud_core._alerts import Alert
from cloud_core._judge import Evidence, Judge, JudgeConfig, Verdict

__all__ = [
    "GAP_WINDOWS",
    "Alerter",
    "JudgeItem",
    "Judged",
    "join_episode",
    "window_evidence",
    "window_ns",
]

#: Anomalous windows at most this many window lengths apart are one episode.
GAP_WINDOWS = 2.0

StreamKey = tuple[str, str, str]  # (tenant, device, sensor)
BatchKey = tuple[str, str, int]  # (tenant, device, seq)


def window_ns(w: protos.Window) -> int:
    """The length of window ``w`` in ns (its samples over its rate)."""
    return round(w.n_samples * 1e9 / w.rate_hz)


def window_evidence(
    key: StreamKey,
    w: protos.Window,
    samples: np.ndarray | None,
    features: np.ndarray | None = None,
) -> Evidence:
    """The evidence of window ``w`` of stream ``key`` as the cloud received it.

    ``samples`` are its decoded raw samples, (channels, n) float32, when it brought them (None
    otherwise). ``features`` are the evidence's features when the caller already holds them —
    the cloud's own of ``samples`` (the core computes them batched), or the device's of a window
    without samples; left None they are computed from ``samples``, or read from ``w``.
    """
    if features is None:
        if samples is not None:
            features = np.concatenate([kernels.window_features(ch, w.rate_hz) for ch in samples])
        elif w.HasField("features") and len(w.features.values):
            features = np.asarray(w.features.values, dtype=np.float32)
    return Evidence(key, w.t0_ns, w.rate_hz, w.n_samples, features, samples, w.novelty, w.flags)


def join_episode(
    episodes: list[Alert],
    key: StreamKey,
    t0_ns: int,
    length_ns: int,
    verdict: Verdict,
    *,
    now_ns: int = 0,
    gap_windows: float = GAP_WINDOWS,
) -> tuple[Alert, bool]:
    """Account anomalous window [t0, t0 + length) of ``key`` in ``episodes`` (that stream's, in
    the order they were opened); return the alert it extended or opened (appended, ``id`` 0),
    and whether it opened one."""
    end = t0_ns + length_ns
    gap = round(gap_windows * length_ns)
    for a in episodes:
        if t0_ns <= a.end_ns + gap and end >= a.start_ns - gap:
            a.start_ns, a.end_ns = min(a.start_ns, t0_ns), max(a.end_ns, end)
            a.score = max(a.score, verdict.score)
            a.windows += 1
            a.raw_windows += verdict.raw
            a.kinds[verdict.kind] += 1
            return a, False
    alert = Alert(0, *key, t0_ns, end, now_ns, verdict.score, 1, int(verdict.raw))
    alert.kinds[verdict.kind] += 1
    episodes.append(alert)
    return alert, True


@dataclass(slots=True)
class JudgeItem:
    """A window of a staged batch as the Judge will see it, should the batch be new.

    The window's own fields are copied out of its message (``novelty`` as received), and
    ``length_ns`` is :func:`window_ns` of it. ``samples`` are decoded where it brought them
    and ``features`` the cloud's of them, or ``device_features`` the device's features as
    packed little-endian float32, or None for a window judged on its flags only (see
    :func:`window_evidence`, which this must agree with).
    """

    batch: BatchKey
    sensor: str
    t0_ns: int
    rate_hz: float
    n_samples: int
    length_ns: int
    novelty: float
    flags: int
    samples: np.ndarray | None = None
    features: np.ndarray | None = None
    device_features: bytes | None = None

    def judged_features(self) -> np.ndarray | None:
        """The features the Judge sees: the cloud's, else the device's, else None."""
        if self.features is None and self.device_features:
            return np.frombuffer(self.device_features, dtype="<f4")
        return self.features


@dataclass(frozen=True, slots=True)
class Judged:
    """An anomalous window: its stream, span and verdict."""

    key: StreamKey
    t0_ns: int
    length_ns: int
    verdict: Verdict


class Alerter:
    """The core's :class:`Judge` (one per core process) and the order it is fed in.

    The writer's concurrent flushes share it; a lock serialises them (they judge in a worker
    thread, off the event loop). Within a call, a device's windows are judged in the order they
    ended — per stream that is window time order, and across a device's sensors the order the
    device emitted them in, which the Judge's cross-sensor check (a pulse against the wearer's
    activity) relies on, as in the in-process cloud. The Judge's baselines are soft state: a
    flush that is judged and then rolled back (a lost connection, retried) teaches them twice.
    """

    def __init__(self, config: JudgeConfig | None = None, *, gap_windows: float = GAP_WINDOWS):
        self.judge = Judge(config)
        self.gap_windows = gap_windows
        self._lock = threading.Lock()

    def __call__(self, items: Sequence[JudgeItem]) -> list[Judged]:
        """Judge ``items``; return the anomalous ones, in judging order."""
        ordered = sorted(items, key=_judging_order)
        out = []
        judge = self.judge.judge_window
        with self._lock:
            for item in ordered:  # judged field by field: no Evidence built for each window
                verdict = judge(
                    item.batch[0], item.batch[1], item.sensor, item.t0_ns, item.rate_hz,
                    item.n_samples, item.judged_features(), item.samples, item.novelty, item.flags,
                )  # fmt: skip
                if verdict.anomalous:
                    key = (item.batch[0], item.batch[1], item.sensor)
                    out.append(Judged(key, item.t0_ns, item.length_ns, verdict))
        return out


def _judging_order(item: JudgeItem) -> tuple[str, str, int]:
    """Device by device, in the order the windows ended."""
    return (item.batch[0], item.batch[1], item.t0_ns + item.length_ns)
