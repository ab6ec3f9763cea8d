"""Prometheus metrics of the core (text exposition from :mod:`protos`, no client library).

One :class:`Metrics` per core, mutated on the event loop only (no locks). Other parts of the
core count into it directly: the writer (items, flushes, retries, queue depth, and after each
flush the store's conformance and alerting counters), the ingest servicer (streams) and the
Control service (bridges, commands).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

import protos

if TYPE_CHECKING:
    from cloud_core._store import Outcome

__all__ = ["Metrics"]


class Metrics:
    """Counters, gauges and latency histograms of one core."""

    def __init__(self) -> None:
        self.batches_stored = 0
        self.samples_stored = 0
        self.duplicates = 0
        self.rejected = 0
        self.dead_letters = 0
        self.presence = 0
        self.flushes = 0
        self.db_retries = 0
        self.queue_depth = 0
        self.streams = 0
        self.bridges = 0
        self.commands_sent = 0
        self.commands_undelivered = 0
        self.time_syncs_dropped = 0
        # The policy loop: rounds run, and Policy commands issued (engine and operators).
        self.policy_rounds = 0
        self.policy_commands = 0
        # Incremented by the cloud-side kernels when device and cloud features of a BOTH
        # window disagree.
        self.conformance_mismatches = 0
        # Windows of new batches the Judge found anomalous, and alerts opened per kind.
        self.windows_anomalous = 0
        self.alerts_opened: Counter[str] = Counter()
        # Calls refused by authentication, by status (unauthenticated, permission_denied).
        self.auth_denied: Counter[str] = Counter()
        self.flush_seconds = protos.Histogram()
        self.batch_seconds = protos.Histogram()

    def observe_flush(
        self,
        requests: Sequence[protos.IngestRequest],
        outcomes: Sequence[Outcome],
        seconds: float,
    ) -> None:
        """Count one committed flush of ``requests`` with their ``outcomes``."""
        self.flushes += 1
        self.flush_seconds.observe(seconds)
        for req, o in zip(requests, outcomes, strict=True):
            kind = req.WhichOneof("item")
            if not o.stored:
                self.rejected += 1
                self.dead_letters += 1
            elif kind == "dead_letter":
                self.dead_letters += 1
            elif kind == "presence":
                self.presence += 1
            elif o.duplicate:
                self.duplicates += 1
            else:
                self.batches_stored += 1  # their samples: the store counts them (staging did)

    def render(self) -> str:
        out = protos.Exposition()
        for name, kind, help_, attr in _FAMILIES:
            out.family(f"binhai_core_{name}", kind, help_, [({}, getattr(self, attr))])
        out.family(
            "binhai_core_alerts_opened_total",
            "counter",
            "Alerts (episodes of anomalous windows) opened, by kind.",
            [({"kind": k}, n) for k, n in sorted(self.alerts_opened.items())],
        )
        out.family(
            "binhai_core_auth_denied_total",
            "counter",
            "Calls refused by authentication or authorisation, by status.",
            [({"status": k}, n) for k, n in sorted(self.auth_denied.items())],
        )
        out.histogram("binhai_core_flush_seconds", "Write transaction latency.", self.flush_seconds)
        out.histogram(
            "binhai_core_batch_seconds",
            "Ingest latency in the core, from receipt to commit.",
            self.batch_seconds,
        )
        return out.text()


# (name after "binhai_core_", type, help, attribute of Metrics)
_FAMILIES = (
    ("ingest_batches_total", "counter", "Batches committed.", "batches_stored"),
    ("ingest_samples_total", "counter", "Samples committed.", "samples_stored"),
    ("dedup_hits_total", "counter", "Batches already stored (redeliveries).", "duplicates"),
    ("dead_letters_total", "counter", "Items stored as dead letters.", "dead_letters"),
    ("rejected_total", "counter", "Items the core itself refused.", "rejected"),
    ("presence_total", "counter", "Presence changes stored.", "presence"),
    ("db_retries_total", "counter", "Transient database failures retried.", "db_retries"),
    ("flushes_total", "counter", "Write transactions committed.", "flushes"),
    (
        "conformance_mismatches_total",
        "counter",
        "BOTH windows whose device and cloud features disagree.",
        "conformance_mismatches",
    ),
    (
        "windows_anomalous_total",
        "counter",
        "Windows of new batches the core judged anomalous.",
        "windows_anomalous",
    ),
    ("commands_sent_total", "counter", "Commands handed to a bridge.", "commands_sent"),
    (
        "commands_undelivered_total",
        "counter",
        "Commands stored while no bridge was connected.",
        "commands_undelivered",
    ),
    (
        "time_syncs_dropped_total",
        "counter",
        "Presence time syncs not sent (queue full, no room, storage failure).",
        "time_syncs_dropped",
    ),
    ("policy_rounds_total", "counter", "Rounds of the policy engine run.", "policy_rounds"),
    (
        "policy_commands_total",
        "counter",
        "Policy commands issued (the engine's changes and operators' overrides).",
        "policy_commands",
    ),
    ("queue_depth", "gauge", "Ingest requests waiting for a flush.", "queue_depth"),
    ("streams", "gauge", "Open ingest streams.", "streams"),
    ("bridges_connected", "gauge", "Bridges on the Downlinks stream.", "bridges"),
)
