"""Run a simulated fleet in a background thread while a test breaks things around it."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from firmware_sim import Fleet, FleetConfig, FleetReport


class BackgroundFleet:
    """``BackgroundFleet(...)`` starts streaming at once; :meth:`join` returns the report."""

    def __init__(self, tenant: str, broker_url: str, data_dir: Path, **kwargs: Any) -> None:
        cfg = FleetConfig(tenant=tenant, broker_url=broker_url, data_dir=data_dir, **kwargs)
        self._fleet = Fleet(cfg)
        self._reports: list[FleetReport] = []
        self._thread = threading.Thread(target=lambda: self._reports.append(self._fleet.run()))
        self._thread.start()

    def join(self, timeout: float = 150) -> FleetReport:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the fleet did not finish"
        (report,) = self._reports
        return report
