"""cloud_core: gRPC ingest, query and control services over PostgreSQL / TimescaleDB.

Public API: :func:`start_core` / :func:`serve` run the service, :func:`migrate` manages the
schema, :class:`Store` is the storage layer, and the errors in :mod:`cloud_core._errors`.
"""

from cloud_core._capabilities import Capabilities, detect
from cloud_core._control import CONTROL_SERVICE, ControlHub
from cloud_core._errors import CoreError, MigrationError, RejectedItem, StorageError
from cloud_core._metrics import Metrics
from cloud_core._migrations import MIGRATIONS, current_version, migrate
from cloud_core._queries import Stats, series, stats
from cloud_core._server import (
    INGEST_SERVICE,
    QUERY_SERVICE,
    Core,
    CoreConfig,
    serve,
    start_core,
)
from cloud_core._store import Outcome, Store
from cloud_core._writer import WriterConfig

__all__ = [
    "CONTROL_SERVICE",
    "INGEST_SERVICE",
    "MIGRATIONS",
    "QUERY_SERVICE",
    "Capabilities",
    "ControlHub",
    "Core",
    "CoreConfig",
    "CoreError",
    "Metrics",
    "MigrationError",
    "Outcome",
    "RejectedItem",
    "Stats",
    "StorageError",
    "Store",
    "WriterConfig",
    "current_version",
    "detect",
    "migrate",
    "series",
    "serve",
    "start_core",
    "stats",
]
