"""The heartbeat's health report, built from the device's stats. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kernels
import protos


def build_health(
    stats: Mapping[str, Any],
    *,
    battery: float | None,
    firmware: str,
    cpu_us_per_window: float,
    policy_version: int = 0,
    uplink: str = "",
) -> protos.Health:
    return protos.Health(
        battery=-1.0 if battery is None else battery,
        outbox_depth=stats["outbox_depth"],
        outbox_bytes=stats["outbox_bytes"],
        evicted_batches=stats["outbox_evicted_batches"],
        cpu_us_per_window=cpu_us_per_window,
        clock_offset_ns=stats["clock_offset_ns"],
        firmware=firmware,
        algo_version=kernels.ALGO_VERSION,
        samples_dropped=stats["samples_dropped_overflow"],
        commands_nacked=stats["commands_nacked"],
        commands_ok=stats["commands_ok"],
        clock_synced=stats["clock_synced"],
        raw_cache_bytes=stats["raw_cache_bytes"],
        policy_version=policy_version,
        uplink=uplink,
    )
