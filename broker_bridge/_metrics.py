"""The bridge's counters and their Prometheus rendering (text exposition from :mod:`protos`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import protos
from broker_bridge._downlink import DownlinkStats

__all__ = ["BridgeStats", "render"]


@dataclass
class BridgeStats:
    received: int = 0
    forwarded: int = 0
    acked: int = 0
    stale_acks_skipped: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    rejected_by_core: int = 0
    # End-to-end acknowledgements published / not published (not connected).
    confirmations: int = 0
    confirmations_dropped: int = 0
    downlinks: DownlinkStats = field(default_factory=DownlinkStats)
    # Set by the bridge when rendering: messages taken but not acked, broker connection.
    inflight: int = 0
    connected: bool = False
    # Core address -> sent/resent/pending/failures/up of its ingest stream.
    cores: dict[str, dict[str, int]] = field(default_factory=dict)
    rerouted: int = 0
    # Set when rendering: requests dead-lettered for crashing cores, quarantined now, and
    # supervised task restarts.
    poisoned: int = 0
    quarantined: int = 0
    task_restarts: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "received": self.received,
            "forwarded": self.forwarded,
            "acked": self.acked,
            "stale_acks_skipped": self.stale_acks_skipped,
            "dead_letters": sum(self.dead_letters.values()),
            "rejected_by_core": self.rejected_by_core,
            "downlinks_published": self.downlinks.published,
            "rerouted": self.rerouted,
            "confirmations": self.confirmations,
            "poisoned": self.poisoned,
        }


_SIMPLE = (
    ("received_total", "counter", "MQTT messages taken from the broker.", "received"),
    ("forwarded_total", "counter", "Ingest requests handed to the core link.", "forwarded"),
    ("acked_total", "counter", "MQTT messages acknowledged after the core's commit.", "acked"),
    (
        "stale_acks_skipped_total",
        "counter",
        "Acks not sent because the broker connection changed (the broker redelivers).",
        "stale_acks_skipped",
    ),
    ("rejected_by_core_total", "counter", "Items the core refused.", "rejected_by_core"),
    ("rerouted_total", "counter", "Pending requests moved to another core.", "rerouted"),
    (
        "confirmations_total",
        "counter",
        "Stored confirmations published to devices (one per device per interval).",
        "confirmations",
    ),
    (
        "confirmations_dropped_total",
        "counter",
        "Confirmations not published (broker not connected; devices republish).",
        "confirmations_dropped",
    ),
    (
        "poisoned_total",
        "counter",
        "Requests in flight at repeated core failures, dead-lettered instead of resent.",
        "poisoned",
    ),
    ("quarantined", "gauge", "Requests resent one at a time after core failures.", "quarantined"),
    ("task_restarts_total", "counter", "Supervised tasks restarted.", "task_restarts"),
    ("inflight", "gauge", "Messages taken from the broker, not yet acked.", "inflight"),
)
_DOWNLINK = (
    ("downlinks_published_total", "counter", "Commands published to devices.", "published"),
    ("downlinks_invalid_total", "counter", "Downlinks with an invalid identity.", "invalid"),
    ("downlinks_failed_total", "counter", "Downlinks the MQTT client refused.", "failed"),
    ("downlink_streams", "gauge", "Open Downlinks streams (one per core).", "streams_up"),
)
_PER_CORE = (
    ("core_sent_total", "counter", "Ingest requests written to the core's stream.", "sent"),
    ("core_resent_total", "counter", "Requests sent again after the stream broke.", "resent"),
    ("core_stream_failures_total", "counter", "Ingest stream failures.", "failures"),
    ("core_pending", "gauge", "Requests sent to the core, not yet acked.", "pending"),
    ("core_up", "gauge", "1 while the ingest stream to the core is open.", "up"),
)


def render(stats: BridgeStats) -> str:
    out = protos.Exposition()
    for name, kind, help_, attr in _SIMPLE:
        out.family(f"binhai_bridge_{name}", kind, help_, [({}, getattr(stats, attr))])
    for name, kind, help_, attr in _DOWNLINK:
        out.family(f"binhai_bridge_{name}", kind, help_, [({}, getattr(stats.downlinks, attr))])
    out.gauge("binhai_bridge_connected", "1 while connected to the broker.", int(stats.connected))
    out.family(
        "binhai_bridge_dead_letters_total",
        "counter",
        "Messages dead-lettered by the bridge, by reason.",
        [({"reason": r}, n) for r, n in sorted(stats.dead_letters.items())],
    )
    for name, kind, help_, key in _PER_CORE:
        samples = [({"core": a}, c[key]) for a, c in sorted(stats.cores.items())]
        out.family(f"binhai_bridge_{name}", kind, help_, samples)
    return out.text()
