"""End-to-end acknowledgement, bridge side: the core's acks, coalesced into one ``Stored`` per
device. A small state machine, no I/O.

For every batch a core acked (after its commit) the bridge calls :meth:`Confirmations.add`;
every ``stored_delay`` (or as soon as :attr:`Confirmations.full`) it publishes what
:meth:`Confirmations.take` returns: per device, one ``Command`` without an id whose ``stored``
body lists the seqs as merged inclusive ranges, on the device's down topic. The device drops
those batches from its outbox; it republishes what stays unconfirmed, so a confirmation that
is lost (QoS0, a broker restart) only costs a redelivery, which the database deduplicates.

Bounded: at most ``max_devices`` devices wait (then :attr:`full` asks for an early flush), and
each device's seqs come from acked messages, which the bridge's in-flight window bounds.
"""

from __future__ import annotations

from collections.abc import Iterable

import protos

__all__ = ["Confirmations", "spans"]


def spans(seqs: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted, merged inclusive ranges covering ``seqs``."""
    out: list[tuple[int, int]] = []
    for s in sorted(set(seqs)):
        if out and out[-1][1] + 1 == s:
            out[-1] = (out[-1][0], s)
        else:
            out.append((s, s))
    return out


class Confirmations:
    def __init__(self, max_devices: int = 10_000) -> None:
        self.max_devices = max_devices
        # (tenant, device) -> (stored seqs, rejected seqs)
        self._pending: dict[tuple[str, str], tuple[list[int], list[int]]] = {}

    def __len__(self) -> int:
        return len(self._pending)

    @property
    def full(self) -> bool:
        return len(self._pending) >= self.max_devices

    def add(self, tenant: str, device_id: str, seq: int, *, rejected: bool = False) -> None:
        entry = self._pending.setdefault((tenant, device_id), ([], []))
        entry[1 if rejected else 0].append(seq)

    def take(self) -> list[tuple[str, bytes]]:
        """(down topic, serialized Command) per device with something to confirm; clears."""
        out = []
        for (tenant, device), (stored, rejected) in self._pending.items():
            body = protos.Stored(
                stored=[protos.SeqSpan(first=a, last=b) for a, b in spans(stored)],
                rejected=[protos.SeqSpan(first=a, last=b) for a, b in spans(rejected)],
            )
            cmd = protos.Command(stored=body)
            out.append((protos.topic_for(tenant, device, "down"), cmd.SerializeToString()))
        self._pending.clear()
        return out
