"""Errors raised by firmware_sim.

::

    SimError                  root of everything firmware_sim raises
     └── ScenarioError        a scenario file that cannot be read or is invalid (also a
                              ValueError); carries ``source`` (file or shipped name) and ``key``
                              (the offending key, e.g. ``events[2].rate_per_device_hour``)
"""

from __future__ import annotations


class SimError(Exception):
    """Root of every error firmware_sim raises."""


class ScenarioError(SimError, ValueError):
    """A scenario that cannot be loaded: ``scenario {source}: {key}: {reason}``."""

    def __init__(self, source: str, key: str, reason: str) -> None:
        where = f"{key}: " if key else ""
        super().__init__(f"scenario {source}: {where}{reason}")
        self.source = source
        self.key = key
        self.reason = reason
