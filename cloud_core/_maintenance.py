"""Periodic storage work of the core: partitions ahead, rollup refresh, retention.

:class:`Maintenance` owns one autocommit connection (a continuous aggregate refresh cannot run
inside a transaction). ``run_once`` does one round and returns what it did; ``start`` runs rounds
every ``interval`` seconds in a supervised task until ``close``. Transient database failures
(lost connection, restart, a lock conflict) are logged and retried next round; any other
failure is logged with its traceback, counted (``failures``) and the task restarted with
backoff (capped at the interval): maintenance never stops for good, and ingest never depends on
it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import psycopg

import protos
from cloud_core._capabilities import Capabilities, detect
from cloud_core._errors import CoreError, StorageError
from cloud_core._migrate_v2 import DAYS_AHEAD
from cloud_core._partitions import PARTITIONED, ensure_days
from cloud_core._retention import RetentionResult, apply_retention
from cloud_core._rollups import RefreshResult, refresh

log = logging.getLogger(__name__)

__all__ = ["Maintenance", "MaintenanceConfig", "MaintenanceReport"]


@dataclass(frozen=True, slots=True)
class MaintenanceConfig:
    """Maintenance settings.

    interval : seconds between rounds (the plain-PostgreSQL rollups lag ingest by about this).
    retention : drop windows and health older than this; None keeps everything.
    rollup_retention : drop rollup buckets older than this; None keeps them.
    retention_every : seconds between retention passes (they are cheap but need not be frequent).
    days_ahead : day partitions kept ready ahead of today (plain PostgreSQL).
    """

    interval: float = 10.0
    retention: timedelta | None = None
    rollup_retention: timedelta | None = None
    retention_every: float = 3600.0
    days_ahead: int = DAYS_AHEAD


@dataclass
class MaintenanceReport:
    """What one round did."""

    partitions_created: list[str] = field(default_factory=list)
    rollups: RefreshResult = field(default_factory=RefreshResult)
    retention: RetentionResult | None = None
    seconds: float = 0.0


class Maintenance:
    """Background storage maintenance for one core (several cores may run it at once)."""

    def __init__(
        self,
        dsn: str,
        config: MaintenanceConfig = MaintenanceConfig(),
        *,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        self.dsn = dsn
        self.config = config
        self._conn: psycopg.AsyncConnection | None = None
        self._caps: Capabilities | None = None
        self.supervisor = protos.Supervisor(
            "storage maintenance",
            max_restarts=None,
            max_delay=max(config.interval, 0.1),
            on_failure=on_failure,
        )
        self._last_retention = float("-inf")

    async def _connection(self) -> tuple[psycopg.AsyncConnection, Capabilities]:
        if self._conn is None or self._conn.closed or self._caps is None:
            self._conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
            self._caps = await detect(self._conn)
        return self._conn, self._caps

    @property
    def failures(self) -> int:
        """Rounds that failed other than transiently (each restarted the task)."""
        return self.supervisor.restarts

    async def run_once(self, *, force_retention: bool = False) -> MaintenanceReport:
        """One round: ensure partitions, refresh rollups, and retention when it is due."""
        t0 = time.perf_counter()
        conn, caps = await self._connection()
        report = MaintenanceReport()
        if not caps.hypertables:
            today = datetime.now(timezone.utc).date()
            days = [today + timedelta(days=d) for d in range(self.config.days_ahead + 1)]
            for table in PARTITIONED:
                report.partitions_created += await ensure_days(conn, table, days)
        report.rollups = await refresh(conn, caps)
        due = time.monotonic() - self._last_retention >= self.config.retention_every
        if self.config.retention is not None and (due or force_retention):
            report.retention = await apply_retention(
                conn,
                caps,
                older_than=self.config.retention,
                rollups_older_than=self.config.rollup_retention,
            )
            self._last_retention = time.monotonic()
        report.seconds = time.perf_counter() - t0
        return report

    async def run_forever(self, interval: float | None = None) -> None:
        """Run rounds every ``interval`` seconds (default: the config's) until cancelled."""
        every = self.config.interval if interval is None else interval
        while True:
            try:
                await self._round()
            except BaseException:
                await self._reset()  # a fresh connection for the restarted task
                raise
            await asyncio.sleep(every)

    async def _reset(self) -> None:
        if self._conn is not None:
            await self._conn.close()
        self._conn = None

    async def _round(self) -> None:
        try:
            report = await self.run_once()
            log.debug("maintenance round: %s", report)
        except (psycopg.OperationalError, StorageError) as exc:
            log.warning("maintenance round failed, retrying next round: %s", exc)
            await self._reset()
        except psycopg.Error as exc:
            if not (exc.sqlstate and exc.sqlstate.startswith(("40", "55"))):  # conflict, lock
                raise
            log.warning("maintenance round conflicted, retrying next round: %s", exc)

    def start(self) -> None:
        """Start :meth:`run_forever` in a supervised task; :meth:`close` stops it."""
        if "rounds" not in self.supervisor.names:
            self.supervisor.spawn("rounds", self.run_forever)

    async def close(self) -> None:
        """Stop the task and close the connection; raise a failure the supervisor gave up on."""
        await self.supervisor.close()
        await self._reset()
        if self.supervisor.error is not None:
            raise CoreError(self.supervisor.reason) from self.supervisor.error
