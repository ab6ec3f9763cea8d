"""Periodic storage work of the core: partitions ahead, rollup refresh, retention.

:class:`Maintenance` owns one autocommit connection (a continuous aggregate refresh cannot run
inside a transaction). ``run_once`` does one round and returns what it did; ``start`` runs rounds
every ``interval`` seconds in a task until ``close``. Transient database failures (lost
connection, restart) are logged and retried next round; any other failure stops the task and is
raised by ``close`` (and by the next ``run_once``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import psycopg

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

    def __init__(self, dsn: str, config: MaintenanceConfig = MaintenanceConfig()) -> None:
        self.dsn = dsn
        self.config = config
        self._conn: psycopg.AsyncConnection | None = None
        self._caps: Capabilities | None = None
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None
        self._last_retention = float("-inf")

    async def _connection(self) -> tuple[psycopg.AsyncConnection, Capabilities]:
        if self._conn is None or self._conn.closed or self._caps is None:
            self._conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
            self._caps = await detect(self._conn)
        return self._conn, self._caps

    async def run_once(self, *, force_retention: bool = False) -> MaintenanceReport:
        """One round: ensure partitions, refresh rollups, and retention when it is due."""
        if self._error is not None:
            raise CoreError("storage maintenance failed") from self._error
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
        try:
            while True:
                await self._round()
                await asyncio.sleep(every)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            log.exception("storage maintenance stopped")
            self._error = exc
            raise

    async def _round(self) -> None:
        try:
            report = await self.run_once()
            log.debug("maintenance round: %s", report)
        except (psycopg.OperationalError, StorageError) as exc:
            log.warning("maintenance round failed, retrying next round: %s", exc)
            if self._conn is not None:
                await self._conn.close()
            self._conn = None
        except psycopg.Error as exc:
            if not (exc.sqlstate and exc.sqlstate.startswith(("40", "55"))):  # conflict, lock
                raise
            log.warning("maintenance round conflicted, retrying next round: %s", exc)

    def start(self) -> asyncio.Task[None]:
        """Start :meth:`run_forever` in a task; :meth:`close` stops it."""
        if self._task is None:
            self._task = asyncio.create_task(self.run_forever(), name="storage-maintenance")
        return self._task

    async def close(self) -> None:
        """Stop the task and close the connection; raise the task's failure, if any."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
        if self._error is not None:
            raise CoreError("storage maintenance failed") from self._error
