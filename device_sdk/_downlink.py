"""Downlink commands: decoding and validation, pure functions (the device worker applies them).

A command arrives as a protobuf ``Command`` on ``binhai/v1/{tenant}/{device}/down``. Anything
wrong with it — undecodable bytes, no id, no body, a field out of range — raises
:class:`Rejected` with the reason that goes back upstream in a NACK.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from google.protobuf.message import DecodeError
from google.protobuf.unknown_fields import UnknownFieldSet

import kernels
import protos
from device_sdk._config import Budget

# Policy fields a policy may name in ``explicit`` (to set them even to 0).
_OFFLOAD_FIELDS = ("novelty_threshold", "both_fraction", "explore_fraction", "min_battery_raw")
_BUDGET_FIELDS = {"budget_bytes_per_s": "bytes_per_s", "budget_burst_bytes": "burst_bytes"}
# Fields of the synergy uplink (device_sdk/_synergy.py) and the heartbeat.
_SYNERGY_FIELDS = ("heartbeat_s", "raw_per_episode")
POLICY_FIELDS = frozenset((*_OFFLOAD_FIELDS, *_BUDGET_FIELDS, "window", *_SYNERGY_FIELDS))
#: The heartbeat periods a policy may set (seconds).
HEARTBEAT_RANGE = (0.1, 86_400.0)
BODIES = ("policy", "flush", "reset_counters", "send_raw", "time_sync")


class Rejected(Exception):
    """A command the device refuses; ``reason`` is sent back in the NACK."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class DevicePolicy:
    """What a policy command set: the offload policy, the uplink budget, the window length,
    the heartbeat period, the synergy uplink's RAW windows per episode and the policy version
    (``None``: unchanged)."""

    offload: kernels.OffloadPolicy
    budget: Budget
    window: int | None
    heartbeat_s: float | None = None
    raw_per_episode: int | None = None
    version: int | None = None
    #: whether the policy set the novelty threshold (the synergy uplink's knob too)
    novelty_given: bool = False


def decode(payload: bytes) -> protos.Command:
    """Parse a downlink payload; reject what is not a usable command."""
    cmd = protos.Command()
    try:
        cmd.ParseFromString(payload)
    except (DecodeError, ValueError, RuntimeError) as exc:  # RuntimeError: recursion limits
        raise Rejected(f"undecodable: {exc}") from exc
    return cmd


def body(cmd: protos.Command) -> str:
    """The command's kind (its oneof body); reject an empty or unknown one."""
    if not cmd.id:
        raise Rejected("missing id")
    kind = cmd.WhichOneof("body")
    if kind is None:
        # Unknown fields are what a newer cloud's command kinds look like to this device.
        raise Rejected("unknown command" if len(UnknownFieldSet(cmd)) else "empty command")
    if kind not in BODIES:
        raise Rejected(f"unknown command {kind!r}")
    return kind


def apply_policy(p: protos.Policy, offload: kernels.OffloadPolicy, budget: Budget) -> DevicePolicy:
    """The device's policy after ``p``: fields at 0 keep their value unless listed in explicit."""
    unknown = sorted(set(p.explicit) - POLICY_FIELDS)
    if unknown:
        raise Rejected(f"invalid policy: unknown explicit field(s) {', '.join(unknown)}")
    explicit = set(p.explicit)

    def given(name: str) -> bool:
        return name in explicit or getattr(p, name) != 0

    values: dict[str, float] = {}
    for name in (*_OFFLOAD_FIELDS, *_BUDGET_FIELDS):
        if given(name):
            v = float(getattr(p, name))
            if not math.isfinite(v):
                raise Rejected(f"invalid policy: {name} must be finite, got {v}")
            values[name] = v
    try:
        new_offload = kernels.OffloadPolicy(
            **{f: values.get(f, getattr(offload, f)) for f in _OFFLOAD_FIELDS}
        )
    except kernels.KernelInputError as exc:
        raise Rejected(f"invalid policy: {exc}") from exc
    new_budget = Budget(
        **{attr: values.get(name, getattr(budget, attr)) for name, attr in _BUDGET_FIELDS.items()}
    )
    if new_budget.bytes_per_s < 0 or new_budget.burst_bytes < 0:
        raise Rejected("invalid policy: budget must be >= 0")
    window = int(p.window) if given("window") else None
    if window is not None and not 2 <= window <= 65536:
        raise Rejected(f"invalid policy: window must be 2..65536, got {window}")
    heartbeat = float(p.heartbeat_s) if given("heartbeat_s") else None
    lo, hi = HEARTBEAT_RANGE
    if heartbeat is not None and not lo <= heartbeat <= hi:
        raise Rejected(f"invalid policy: heartbeat_s must be {lo:g}..{hi:g}, got {heartbeat}")
    raw_per_episode = int(p.raw_per_episode) if given("raw_per_episode") else None
    if raw_per_episode is not None and raw_per_episode > 64:
        raise Rejected(f"invalid policy: raw_per_episode must be 0..64, got {raw_per_episode}")
    return DevicePolicy(
        new_offload,
        new_budget,
        window,
        heartbeat,
        raw_per_episode,
        int(p.policy_version) or None,
        given("novelty_threshold"),
    )


def check_send_raw(s: protos.SendRaw, sensors: set[str]) -> None:
    if s.end_ns <= s.start_ns:
        raise Rejected(f"invalid send_raw: empty range [{s.start_ns}, {s.end_ns})")
    if s.sensor and s.sensor not in sensors:
        raise Rejected(f"invalid send_raw: unknown sensor {s.sensor!r}")
