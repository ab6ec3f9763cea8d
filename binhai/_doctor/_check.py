"""One result of a check."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = ["Check", "Status", "worst"]

Status = Literal["ok", "info", "skip", "warn", "fail"]
_RANK: dict[str, int] = {"ok": 0, "info": 0, "skip": 0, "warn": 1, "fail": 2}


@dataclass(frozen=True)
class Check:
    """``name``: what was checked; ``detail``: what was found; ``fix``: what to do, if anything."""

    name: str
    status: Status
    detail: str
    fix: str = ""

    def line(self) -> str:
        fix = f" -> {self.fix}" if self.fix else ""
        return f"[{self.status.upper():>4}] {self.name}: {self.detail}{fix}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def worst(checks: list[Check]) -> Status:
    """The most severe status among ``checks`` (``ok`` when there are none)."""
    if not checks:
        return "ok"
    status: Status = max((c.status for c in checks), key=lambda s: _RANK[s])
    return "ok" if _RANK[status] == 0 else status
