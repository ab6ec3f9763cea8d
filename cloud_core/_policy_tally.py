"""What each device showed since the policy engine's last round, counted from its batches. Pure.

The simulator's in-process cloud feeds every stored batch to a :class:`RoundTally`; the core
counts the same from its tables (``cloud_core/_policy_loop.py``). Per device: windows (those
sent one by one plus those its summaries stand for), *novel-only* windows (flagged novel and
nothing else, sent or folded into a summary: ``Summary.novel``), uplink payload bytes, and the
battery of its latest health report. A device's summaries travel with its heartbeats, so its
counts are complete only up to its last heartbeat: a round takes the devices whose counts
include one, and the others keep counting into the next round.
"""

from __future__ import annotations

from dataclasses import dataclass

import protos
from cloud_core._policy import DeviceRound

__all__ = ["NOVEL_ONLY", "RoundTally"]

#: The flags of a window that is novel and nothing else.
NOVEL_ONLY = int(protos.WindowFlag.FLAG_NOVEL)


@dataclass
class _Count:
    windows: int = 0
    novel: int = 0
    bytes_up: int = 0
    battery: float = -1.0
    summaries: int = 0
    policy_version: int = -1
    uplink: str = ""
    heartbeat: bool = False


class RoundTally:
    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], _Count] = {}

    def add(self, batch: protos.TelemetryBatch, payload_bytes: int) -> None:
        """Count one stored batch (each (device, seq) once)."""
        c = self._counts.setdefault((batch.tenant, batch.device_id), _Count())
        c.windows += len(batch.windows) + sum(s.windows for s in batch.summaries)
        c.novel += sum(w.flags == NOVEL_ONLY for w in batch.windows)
        c.novel += sum(min(s.novel, s.windows) for s in batch.summaries)
        c.bytes_up += payload_bytes
        c.summaries += len(batch.summaries)
        if batch.HasField("health"):
            c.battery = batch.health.battery
            c.policy_version = int(batch.health.policy_version)
            c.uplink = batch.health.uplink
            c.heartbeat = True

    def take(self) -> list[DeviceRound]:
        """The round's counts of every device with a heartbeat since the last round, in (tenant,
        device) order; their counts start over."""
        out = []
        for (t, d), c in sorted(self._counts.items()):
            if c.heartbeat:
                out.append(
                    DeviceRound(
                        t,
                        d,
                        c.windows,
                        c.novel,
                        c.bytes_up,
                        c.battery,
                        c.summaries,
                        c.policy_version,
                        c.uplink,
                    )
                )
                c.windows = c.novel = c.bytes_up = c.summaries = 0
                c.heartbeat = False
        return out
