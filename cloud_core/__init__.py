"""cloud_core: gRPC ingest, query and control services over PostgreSQL / TimescaleDB.

Public API: :func:`start_core` / :func:`serve` run the service, :func:`migrate` manages the
schema, :class:`Store` is the storage layer, and the errors in :mod:`cloud_core._errors`.
"""

from cloud_core._alert_store import list_alerts
from cloud_core._alerting import window_evidence
from cloud_core._alerts import Alert, AlertTracker
from cloud_core._auth import ROLES, Authenticate, AuthInterceptor, Principal, Role, allowed
from cloud_core._capabilities import Capabilities, detect
from cloud_core._cloud_features import ATOL, RTOL
from cloud_core._control import CONTROL_SERVICE, ControlHub
from cloud_core._devices import (
    CommandState,
    DeviceRow,
    command_state,
    current_policy,
    device_list,
    device_tenants,
    recent_commands,
)
from cloud_core._errors import CoreError, MigrationError, RejectedItem, StorageError
from cloud_core._fleet import (
    DeviceDetail,
    FleetSummary,
    RawWindow,
    conformance,
    device_detail,
    fleet_summary,
    raw_window,
)
from cloud_core._judge import Evidence, Judge, JudgeConfig, Verdict, kind_of
from cloud_core._limits import MAX_SEQ, IngestLimits
from cloud_core._maintenance import Maintenance, MaintenanceConfig, MaintenanceReport
from cloud_core._metrics import Metrics
from cloud_core._migrations import MIGRATIONS, current_version, migrate
from cloud_core._policy import (
    ENGINE_FIELDS,
    DeviceRound,
    PolicyChange,
    PolicyEngine,
    PolicyEngineConfig,
)
from cloud_core._policy_scopes import Override, PolicyError, Scope, pins_for, policy_message
from cloud_core._policy_tally import RoundTally
from cloud_core._queries import Series, Stats, feature_series, stats
from cloud_core._retention import RetentionResult, apply_retention, parse_age
from cloud_core._rollups import ROLLUP_CHANNELS, ROLLUP_FEATURES, RefreshResult, refresh
from cloud_core._server import (
    INGEST_SERVICE,
    QUERY_SERVICE,
    Core,
    CoreConfig,
    ServerTls,
    serve,
    start_core,
)
from cloud_core._store import Outcome, Store
from cloud_core._writer import WriterConfig

__all__ = [
    "ATOL",
    "CONTROL_SERVICE",
    "ENGINE_FIELDS",
    "INGEST_SERVICE",
    "MAX_SEQ",
    "MIGRATIONS",
    "QUERY_SERVICE",
    "ROLES",
    "ROLLUP_CHANNELS",
    "ROLLUP_FEATURES",
    "RTOL",
    "Alert",
    "AlertTracker",
    "AuthInterceptor",
    "Authenticate",
    "Capabilities",
    "CommandState",
    "ControlHub",
    "Core",
    "CoreConfig",
    "CoreError",
    "DeviceDetail",
    "DeviceRound",
    "DeviceRow",
    "Evidence",
    "FleetSummary",
    "IngestLimits",
    "Judge",
    "JudgeConfig",
    "Maintenance",
    "MaintenanceConfig",
    "MaintenanceReport",
    "Metrics",
    "MigrationError",
    "Outcome",
    "Override",
    "PolicyChange",
    "PolicyEngine",
    "PolicyEngineConfig",
    "PolicyError",
    "Principal",
    "RawWindow",
    "RefreshResult",
    "RejectedItem",
    "RetentionResult",
    "Role",
    "RoundTally",
    "Scope",
    "Series",
    "ServerTls",
    "Stats",
    "StorageError",
    "Store",
    "Verdict",
    "WriterConfig",
    "allowed",
    "apply_retention",
    "command_state",
    "conformance",
    "current_policy",
    "current_version",
    "detect",
    "device_detail",
    "device_list",
    "device_tenants",
    "feature_series",
    "fleet_summary",
    "kind_of",
    "list_alerts",
    "migrate",
    "parse_age",
    "pins_for",
    "policy_message",
    "raw_window",
    "recent_commands",
    "refresh",
    "serve",
    "start_core",
    "stats",
    "window_evidence",
]
