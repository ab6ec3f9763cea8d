"""Alerts: anomalous windows grouped into episodes, one alert per episode per device and sensor.

Pure, no I/O. :class:`AlertTracker` takes each judged window (in any order: batches arrive late
or twice) and returns the alert it opened or extended. Two anomalous windows belong to the same
episode when the gap between them is at most ``gap_windows`` window lengths. An alert's kind is
the most frequent specific kind its windows were judged (``novelty`` and unknown only when
nothing more specific was seen); its score is the highest window score.

Memory is bounded: each stream keeps its ``keep`` most recent episodes (older windows that
would have extended an evicted episode open a new one, which a store merges again).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from cloud_core._judge import Verdict

__all__ = ["Alert", "AlertTracker"]

_GENERIC = ("", "novelty")


@dataclass
class Alert:
    id: int
    tenant: str
    device: str
    sensor: str
    start_ns: int
    end_ns: int
    raised_ns: int  # when the cloud first raised it (its clock)
    score: float
    windows: int = 1
    raw_windows: int = 0
    kinds: Counter[str] = field(default_factory=Counter)

    @property
    def kind(self) -> str:
        specific = [(n, k) for k, n in self.kinds.items() if k not in _GENERIC]
        if specific:
            return max(specific)[1]
        return "novelty" if self.kinds.get("novelty") else ""


class AlertTracker:
    def __init__(self, *, gap_windows: float = 2.0, keep: int = 8, record: bool = False) -> None:
        self.gap_windows = gap_windows
        self.keep = keep
        self.record = record
        self.opened = 0
        self.alerts: list[Alert] = []  # every alert, when ``record``
        self._open: dict[tuple[str, str, str], list[Alert]] = {}

    def observe(
        self,
        key: tuple[str, str, str],
        t0_ns: int,
        length_ns: int,
        verdict: Verdict,
        now_ns: int,
    ) -> Alert | None:
        """Account one judged window; return the alert it opened or extended (None if ordinary)."""
        if not verdict.anomalous:
            return None
        end = t0_ns + length_ns
        gap = round(self.gap_windows * length_ns)
        episodes = self._open.setdefault(key, [])
        for a in episodes:
            if t0_ns <= a.end_ns + gap and end >= a.start_ns - gap:
                a.start_ns, a.end_ns = min(a.start_ns, t0_ns), max(a.end_ns, end)
                a.score = max(a.score, verdict.score)
                a.windows += 1
                a.raw_windows += verdict.raw
                a.kinds[verdict.kind] += 1
                return a
        self.opened += 1
        alert = Alert(self.opened, *key, t0_ns, end, now_ns, verdict.score, 1, int(verdict.raw))
        alert.kinds[verdict.kind] += 1
        if self.record:
            self.alerts.append(alert)
        episodes.append(alert)
        if len(episodes) > self.keep:
            episodes.sort(key=lambda a: a.end_ns)
            del episodes[0]
        return alert
