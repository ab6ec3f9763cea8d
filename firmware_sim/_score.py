"""Scoring an offload policy against the ground truth. Pure functions on plain records.

Definitions (times in seconds from the scenario start; ``w`` is the window length of the
label's sensor):

* a **true event** is a label of category ``event`` or ``sensor_fault``; its *span* is
  ``[t_on, t_off + 2 w]`` and its *extent* ``[t_on - w, t_off + 2 w]`` (from the start of the
  window that holds the onset). An alert is *true* when it is on the same device and sensor as
  some true event, overlaps its span, and at least half of the alert's own duration lies within
  the extents of that stream's true events (an alert that stays on for an hour does not detect
  the events that happen under it, while one alert over two adjacent events detects both); a
  true alert *matches* every true event whose span it overlaps;
* ``event_recall``: share of true events matched by at least one alert;
* ``alert_precision``: share of alerts that match a true event (1.0 when there are no alerts);
* ``latency_windows``: for each matched event, ``max(0, raised - t_on) / w`` of the first alert
  that matched it, ``raised`` being when the cloud raised the alert; reported as p50 and p95;
  ``latency_p95_windows_online`` is the p95 over the matched events whose device was reachable
  (no ``partition`` or ``reboot`` of it) from the onset to two windows after it: what detection
  and delivery cost when the network let the data through (``events_offline_at_onset``
  counts the others: no policy can raise those within two windows);
* ``evidence_recall``: share of the windows that overlap a true event whose samples (lossless
  or rebuilt from points) reached the cloud;
* ``rho``: uplink wire bytes ÷ the all-cloud baseline's uplink wire bytes on the same signals;
* delivery: ``lost`` = batches a device created that the cloud neither stored nor was told were
  evicted, and that are not still queued on the device at the end (``queued``: a budget or a
  partition held them); ``duplicates`` = batches received again after they were stored
  (absorbed, not stored twice).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from firmware_sim._catalog import DEVICE_FAULT, EVENT, SENSOR_FAULT, Label

__all__ = ["AlertRow", "Delivery", "score"]

TOLERANCE_WINDOWS = 2.0
#: Device faults that cut a device off the cloud (a reconnect storm lasts seconds: it counts)
OFFLINE_KINDS = ("partition", "reboot")


@dataclass(frozen=True, slots=True)
class AlertRow:
    device: str
    sensor: str
    kind: str
    start_s: float
    end_s: float
    raised_s: float
    score: float
    windows: int


@dataclass(frozen=True, slots=True)
class Delivery:
    batches_created: int
    batches_stored: int
    duplicates: int
    evicted: int
    queued: int = 0  # still in device outboxes at the end (a budget or a partition held them)

    @property
    def lost(self) -> int:
        return max(0, self.batches_created - self.batches_stored - self.evicted - self.queued)


def _pct(values: Sequence[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values else None


def score(
    *,
    labels: Iterable[Label],
    alerts: Sequence[AlertRow],
    anomalous: Sequence[tuple[str, str, float, float, bool]],
    window_s: dict[tuple[str, str], float],
    bytes_up: int,
    all_cloud_bytes: int,
    delivery: Delivery,
    device_hours: float,
) -> dict[str, Any]:
    """The figures of one run (see the module docstring)."""
    by_stream: dict[tuple[str, str], list[AlertRow]] = defaultdict(list)
    for a in alerts:
        by_stream[(a.device, a.sensor)].append(a)
    labels = list(labels)
    true = [lb for lb in labels if lb.category in (EVENT, SENSOR_FAULT)]
    offline: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for lb in labels:
        if lb.category == DEVICE_FAULT and lb.kind in OFFLINE_KINDS:
            offline[lb.device].append((lb.t_on, lb.t_off))
    spans: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for lb in true:
        w = window_s.get((lb.device, lb.sensor), 1.0)
        # from the start of the window that holds the onset to two windows after the end
        spans[(lb.device, lb.sensor)].append((lb.t_on - w, lb.t_off + TOLERANCE_WINDOWS * w))
    genuine = {id(a) for a in alerts if _inside(a, spans.get((a.device, a.sensor), [])) >= 0.5}
    matched_alerts: set[int] = set()
    kinds: dict[str, dict[str, list[float]]] = defaultdict(lambda: {"hit": [], "lat": []})
    latencies: list[float] = []
    online: list[float] = []
    cut_off = 0
    hits = 0
    for lb in true:
        w = window_s.get((lb.device, lb.sensor), 1.0)
        hi = lb.t_off + TOLERANCE_WINDOWS * w
        first: float | None = None
        for a in by_stream.get((lb.device, lb.sensor), ()):
            if id(a) in genuine and a.start_s <= hi and a.end_s >= lb.t_on:
                matched_alerts.add(id(a))
                lat = max(0.0, a.raised_s - lb.t_on) / w
                first = lat if first is None else min(first, lat)
        kinds[lb.kind]["hit"].append(1.0 if first is not None else 0.0)
        reachable = not any(
            a < lb.t_on + TOLERANCE_WINDOWS * w and b > lb.t_on for a, b in offline[lb.device]
        )
        cut_off += not reachable
        if first is not None:
            hits += 1
            latencies.append(first)
            kinds[lb.kind]["lat"].append(first)
            if reachable:
                online.append(first)
    labels_of: dict[tuple[str, str], list[Label]] = defaultdict(list)
    for lb in true:
        labels_of[(lb.device, lb.sensor)].append(lb)
    ev_kind: dict[str, list[bool]] = defaultdict(list)
    for device, sensor, t0, w, arrived in anomalous:
        ev_kind[_label_kind(labels_of[(device, sensor)], t0, w)].append(arrived)
    arrived_all = [x for v in ev_kind.values() for x in v]
    per_kind = {
        k: {
            "events": len(v["hit"]),
            "recall": round(sum(v["hit"]) / len(v["hit"]), 4),
            "latency_p50_windows": _pct(v["lat"], 50),
            "latency_p95_windows": _pct(v["lat"], 95),
            "evidence_recall": _ratio(ev_kind.get(k, [])),
        }
        for k, v in sorted(kinds.items())
    }
    return {
        "rho": round(bytes_up / all_cloud_bytes, 5) if all_cloud_bytes else None,
        "event_recall": round(hits / len(true), 4) if true else None,
        "evidence_recall": _ratio(arrived_all),
        "alert_precision": round(len(matched_alerts) / len(alerts), 4) if alerts else 1.0,
        "latency_p50_windows": _pct(latencies, 50),
        "latency_p95_windows": _pct(latencies, 95),
        "latency_p95_windows_online": _pct(online, 95),
        "events": len(true),
        "events_offline_at_onset": cut_off,
        "alerts": len(alerts),
        "bytes_up": bytes_up,
        "bytes_per_device_hour": round(bytes_up / device_hours) if device_hours else None,
        "lost": delivery.lost,
        "duplicates": delivery.duplicates,
        "batches_created": delivery.batches_created,
        "batches_stored": delivery.batches_stored,
        "evicted": delivery.evicted,
        "queued": delivery.queued,
        "per_kind": per_kind,
    }


def _inside(a: AlertRow, spans: Sequence[tuple[float, float]]) -> float:
    """Share of the alert's duration within the union of ``spans``."""
    length = a.end_s - a.start_s
    if length <= 0:
        return 1.0 if any(x <= a.start_s <= y for x, y in spans) else 0.0
    covered = 0.0
    at = a.start_s
    for x, y in sorted(spans):
        lo, hi = max(x, at), min(y, a.end_s)
        if hi > lo:
            covered += hi - lo
            at = hi
    return covered / length


def _ratio(flags: Sequence[bool]) -> float | None:
    return round(sum(flags) / len(flags), 4) if flags else None


def _label_kind(labels: Sequence[Label], t0: float, w: float) -> str:
    """Kind of the (first) true event of a stream that a window overlaps."""
    for lb in labels:
        if lb.t_on < t0 + w and t0 < lb.t_off:
            return lb.kind
    return "?"


def fmt(v: float | None) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:g}"
