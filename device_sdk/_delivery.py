"""Delivery of the outbox's batches: what to publish now, what to publish again, what is done.

A small state machine, no I/O; times (monotonic ns) are handed in. The engine asks
:meth:`Delivery.held` which queued seqs not to publish now, reports every publish, PUBACK,
publish error, confirmation and reconnect, and applies the :class:`Done` it gets back.

Confirmation (``confirm="stored"``, the default): a batch is done when the cloud confirms it is
stored (a ``Stored`` downlink, sent after the core's commit). A broker's PUBACK is not
durability — a broker that crashes before saving its state, or drops a queue, loses messages it
had PUBACKed — so a PUBACK only starts the confirmation timer: ``confirm_timeout_s``, doubling
with every attempt up to ``confirm_timeout_max_s``. When it runs out the batch is published
again, same seq (the database deduplicates). Three signals bring that forward:

- after a reconnect, every batch PUBACKed and not yet confirmed goes again at once (the broker
  may have crashed with it);
- a confirmation of a later seq makes every earlier batch PUBACKed and still unconfirmed due
  ``gap_grace_s`` later (confirmations come in publish order, give or take the pipeline's
  reordering, which the grace absorbs);
- while someone waits in ``flush()``, a batch PUBACKed ``gap_grace_s`` ago and still
  unconfirmed goes again. ``confirm="puback"`` is the
old contract, for a cloud that sends no confirmations: done at the PUBACK.

Refusals: a PUBACK with a failure reason code, or a publish the client refuses, holds the batch
back ``refusal_backoff_s`` (doubling up to ``refusal_backoff_max_s``) while later batches go on.
A permanent refusal (0x87 not authorised, 0x90 topic name invalid, 0x95 packet too large, 0x99
payload format invalid) repeated ``max_refusals`` times evicts the batch with reason
``refused``, reported upstream like any eviction. Bounded: one entry per queued batch that was
published at least once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["PERMANENT_REFUSALS", "Confirm", "Delivery", "Done", "is_permanent"]

Confirm = Literal["stored", "puback"]

NS = 1_000_000_000
#: MQTT 5 PUBACK reason codes a retry cannot change.
PERMANENT_REFUSALS = frozenset((0x87, 0x90, 0x95, 0x99))
_CODE = re.compile(r"^0x([0-9a-fA-F]{2})\b")


def is_permanent(reason: str) -> bool:
    """Whether a refusal reason (``"0x87 Not authorized"``: code first) is permanent."""
    m = _CODE.match(reason)
    return m is not None and int(m[1], 16) in PERMANENT_REFUSALS


@dataclass(frozen=True, slots=True)
class Done:
    """What the engine does with ``seq`` after a PUBACK: forget it (``"acked"``), evict it
    (``"refused"``), or nothing yet (``"wait"``: confirmation or backoff pending)."""

    seq: int
    what: Literal["acked", "refused", "wait"]
    reason: str = ""


@dataclass(slots=True)
class _Track:
    attempts: int = 0
    refusals: int = 0
    due_ns: int = 0  # not published again before this
    pubacked: bool = False
    pubacked_ns: int = 0


class Delivery:
    def __init__(
        self,
        *,
        confirm: Confirm = "stored",
        confirm_timeout_s: float = 30.0,
        confirm_timeout_max_s: float = 600.0,
        refusal_backoff_s: float = 1.0,
        refusal_backoff_max_s: float = 60.0,
        max_refusals: int = 3,
        gap_grace_s: float = 5.0,
    ) -> None:
        if confirm not in ("stored", "puback"):
            raise ValueError(f"confirm must be 'stored' or 'puback', not {confirm!r}")
        self.confirm: Confirm = confirm
        self._timeout = (round(confirm_timeout_s * NS), round(confirm_timeout_max_s * NS))
        self._backoff = (round(refusal_backoff_s * NS), round(refusal_backoff_max_s * NS))
        self.max_refusals = max_refusals
        self._grace = round(gap_grace_s * NS)
        self.inflight: dict[int, int] = {}  # transport token -> seq
        self._tracks: dict[int, _Track] = {}  # seq -> published at least once, not done
        self.republished = 0
        self.refused = 0

    def __len__(self) -> int:
        return len(self._tracks)

    def held(self, now_ns: int, *, hurry: bool = False) -> set[int]:
        """Seqs not to publish now: in flight, waiting for a confirmation or backing off.
        With ``hurry`` (a flush waits), a confirmation waited for ``gap_grace_s`` is enough."""
        out = set(self.inflight.values())
        for s, t in self._tracks.items():
            if t.due_ns <= now_ns:
                continue
            if hurry and t.pubacked and not t.refusals and now_ns - t.pubacked_ns >= self._grace:
                continue
            out.add(s)
        return out

    def published(self, seq: int, token: int) -> bool:
        """``seq`` went out as ``token``; True when it had gone out before (a republish)."""
        t = self._tracks.setdefault(seq, _Track())
        again = t.attempts > 0
        self.republished += again
        t.attempts += 1
        t.pubacked = False
        self.inflight[token] = seq
        return again

    def publish_failed(self, seq: int, reason: str, now_ns: int) -> Done:
        """The client refused to queue the publish (not connected, queue full, ...)."""
        return self._refusal(seq, reason, now_ns)

    def puback(self, token: int, ok: bool, reason: str, now_ns: int) -> Done | None:
        """The broker answered publish ``token``; None when it is not a batch's."""
        seq = self.inflight.pop(token, None)
        if seq is None:
            return None
        t = self._tracks.get(seq)
        if t is None:  # confirmed (or evicted) while this copy was in flight
            return Done(seq, "wait")
        if not ok:
            return self._refusal(seq, reason, now_ns)
        t.refusals = 0
        if self.confirm == "puback":
            del self._tracks[seq]
            return Done(seq, "acked")
        t.pubacked = True
        t.pubacked_ns = now_ns
        base, cap = self._timeout
        t.due_ns = now_ns + min(cap, base << min(t.attempts - 1, 30))
        return Done(seq, "wait")

    def _refusal(self, seq: int, reason: str, now_ns: int) -> Done:
        t = self._tracks.setdefault(seq, _Track())
        t.refusals += 1
        self.refused += 1
        if is_permanent(reason) and t.refusals >= self.max_refusals:
            self.forget([seq])
            return Done(seq, "refused", reason)
        base, cap = self._backoff
        t.due_ns = now_ns + min(cap, base << min(t.refusals - 1, 30))
        return Done(seq, "wait", reason)

    def awaiting(self) -> set[int]:
        """Seqs the broker PUBACKed and the cloud has not confirmed yet."""
        return {s for s, t in self._tracks.items() if t.pubacked}

    def confirmed(self, spans: list[tuple[int, int]], now_ns: int) -> None:
        """The cloud holds these seqs (inclusive spans): stop tracking them; earlier ones PUBACKed
        and still unconfirmed become due ``gap_grace_s`` from now."""
        done = [s for s in self._tracks if any(a <= s <= b for a, b in spans)]
        self.forget(done)
        if not spans:
            return
        latest = max(b for _, b in spans)
        for s, t in self._tracks.items():
            if s < latest and t.pubacked:
                t.due_ns = min(t.due_ns, now_ns + self._grace)

    def forget(self, seqs: list[int]) -> None:
        for s in seqs:
            self._tracks.pop(s, None)

    def reconnected(self, now_ns: int) -> None:
        """After a reconnect, what the broker had PUBACKed and the cloud has not confirmed goes
        again now: a broker that crashed may have lost it."""
        for t in self._tracks.values():
            if t.pubacked:
                t.due_ns = min(t.due_ns, now_ns)
