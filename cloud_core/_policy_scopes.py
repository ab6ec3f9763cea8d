"""Operator overrides by scope, and the Policy command a device gets. Pure.

An operator pins policy fields (``binhai policy set``) for a whole tenant, for a *group* of its
devices — a device-id pattern, shell glob (``wrist-*``) — or for one device. A device's pinned
fields are resolved tenant first, then its matching groups in pattern order, then the device:
the narrowest scope wins. The engine never changes a pinned field.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Literal

import protos

__all__ = [
    "FIELD_RANGES",
    "INT_FIELDS",
    "Override",
    "PolicyError",
    "Scope",
    "ScopeKind",
    "check_fields",
    "pins_for",
    "policy_message",
]

ScopeKind = Literal["tenant", "group", "device"]

#: Fields an operator may set, and the range of each (both ends included).
FIELD_RANGES: dict[str, tuple[float, float]] = {
    "novelty_threshold": (0.0, 1e6),
    "heartbeat_s": (0.1, 86_400.0),
    "raw_per_episode": (0.0, 64.0),
    "explore_fraction": (0.0, 1.0),
    "both_fraction": (0.0, 1.0),
    "budget_bytes_per_s": (0.0, 1e9),
    "budget_burst_bytes": (0.0, 1e12),
}
INT_FIELDS = frozenset({"raw_per_episode"})


class PolicyError(ValueError):
    """A policy an operator asked for that cannot be set (unknown field, out of range, bad key)."""


@dataclass(frozen=True, slots=True)
class Scope:
    kind: ScopeKind
    key: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("tenant", "group", "device"):
            raise PolicyError(f"unknown scope {self.kind!r}")
        if (self.kind == "tenant") != (self.key == ""):
            why = "has no key" if self.kind == "tenant" else "needs a key"
            raise PolicyError(f"the {self.kind} scope {why}")
        if self.kind == "device":
            try:
                protos.check_id(self.key, "device id")
            except protos.TopicError as exc:
                raise PolicyError(str(exc)) from exc

    def applies(self, device: str) -> bool:
        if self.kind == "tenant":
            return True
        if self.kind == "group":
            return fnmatchcase(device, self.key)
        return device == self.key

    @property
    def label(self) -> str:
        """How a field's source names this scope: ``tenant``, ``group:<pattern>``, ``device``."""
        return f"group:{self.key}" if self.kind == "group" else self.kind


@dataclass(frozen=True, slots=True)
class Override:
    """The fields an operator pinned at one scope."""

    scope: Scope
    fields: Mapping[str, float]


_ORDER = {"tenant": 0, "group": 1, "device": 2}


def check_fields(fields: Mapping[str, float]) -> dict[str, float]:
    """``fields`` checked against :data:`FIELD_RANGES` (integers where a field is one)."""
    out = {}
    for name, value in fields.items():
        rng = FIELD_RANGES.get(name)
        if rng is None:
            raise PolicyError(
                f"unknown policy field {name!r} (known: {', '.join(sorted(FIELD_RANGES))})"
            )
        v = float(value)
        if not (math.isfinite(v) and rng[0] <= v <= rng[1]):
            raise PolicyError(f"{name} must be {rng[0]:g}..{rng[1]:g}, got {value}")
        if name in INT_FIELDS and v != int(v):
            raise PolicyError(f"{name} must be a whole number, got {value}")
        out[name] = v
    return out


def pins_for(device: str, overrides: Iterable[Override]) -> dict[str, tuple[float, str]]:
    """The device's pinned fields: name -> (value, source), the narrowest scope winning."""
    mine = [o for o in overrides if o.scope.applies(device)]
    mine.sort(key=lambda o: (_ORDER[o.scope.kind], o.scope.key))
    out: dict[str, tuple[float, str]] = {}
    for o in mine:
        for name, value in o.fields.items():
            out[name] = (value, f"operator:{o.scope.label}")
    return out


def policy_message(fields: Mapping[str, float], version: int) -> protos.Policy:
    """The Policy command body setting ``fields`` (zeros listed in ``explicit``)."""
    p = protos.Policy(policy_version=version)
    for name, value in sorted(fields.items()):
        setattr(p, name, int(value) if name in INT_FIELDS else value)
        if value == 0:
            p.explicit.append(name)
    return p
