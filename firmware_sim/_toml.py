"""Typed reads of a parsed TOML table, each error naming its key (``events[2].magnitude``)."""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

from firmware_sim._errors import ScenarioError

Table = dict[str, Any]


class Reader:
    """Reads keys of one table; every complaint is a :class:`ScenarioError` naming the key."""

    def __init__(self, source: str, table: Table, prefix: str = "") -> None:
        self.source = source
        self.table = table
        self.prefix = prefix

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def fail(self, name: str, reason: str) -> ScenarioError:
        return ScenarioError(self.source, self.key(name) if name else self.prefix, reason)

    def only(self, allowed: Collection[str]) -> None:
        for name in self.table:
            if name not in allowed:
                raise self.fail(name, f"unknown key (allowed: {', '.join(sorted(allowed))})")

    def has(self, name: str) -> bool:
        return name in self.table

    def require(self, name: str) -> Any:
        if name not in self.table:
            raise self.fail(name, "missing")
        return self.table[name]

    def string(self, name: str, default: str | None = None) -> str | None:
        value = self.table.get(name, default)
        if value is not None and not isinstance(value, str):
            raise self.fail(name, f"must be a string, got {value!r}")
        return value

    def choice(self, name: str, choices: Collection[str], default: str | None = None) -> str | None:
        value = self.string(name, default)
        if value is not None and value not in choices:
            raise self.fail(name, f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def integer(
        self, name: str, *, lo: int, hi: int | None = None, default: int | None = None
    ) -> int:
        value = self.table.get(name, default)
        if value is None:
            raise self.fail(name, "missing")
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(name, f"must be an integer, got {value!r}")
        self._bounds(name, value, lo, hi)
        return value

    def number(
        self,
        name: str,
        *,
        lo: float | None = None,
        hi: float | None = None,
        above: float | None = None,
        below: float | None = None,
        default: float | None = None,
    ) -> float | None:
        """A float (TOML int or float) or ``default``; ``lo``/``hi`` inclusive, ``above``/``below``
        exclusive bounds."""
        value = self.table.get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            raise self.fail(name, f"must be a number, got {value!r}")
        self._bounds(name, value, lo, hi)
        if above is not None and not value > above:
            raise self.fail(name, f"must be > {above:g}, got {value:g}")
        if below is not None and not value < below:
            raise self.fail(name, f"must be < {below:g}, got {value:g}")
        return float(value)

    def _bounds(self, name: str, value: float, lo: float | None, hi: float | None) -> None:
        if lo is not None and value < lo:
            raise self.fail(name, f"must be >= {lo:g}, got {value:g}")
        if hi is not None and value > hi:
            raise self.fail(name, f"must be <= {hi:g}, got {value:g}")

    def strings(self, name: str) -> tuple[str, ...] | None:
        """A string or a non-empty list of strings, as a tuple."""
        value = self.table.get(name)
        if value is None:
            return None
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise self.fail(name, f"must be a string or a list of strings, got {value!r}")
        return tuple(value)

    def tables(self, name: str) -> list[Reader]:
        """The array of tables ``[[name]]`` (empty when absent), one reader per table."""
        value = self.table.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.fail(name, f"must be an array of tables ([[{name}]])")
        return [Reader(self.source, v, f"{self.key(name)}[{i}]") for i, v in enumerate(value)]
