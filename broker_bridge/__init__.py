"""broker_bridge: MQTT -> gRPC ingest with acks after durability, dead letters, presence,
and gRPC -> MQTT downlink forwarding.

Public API: :class:`Bridge` / :func:`run_bridge` with :class:`BridgeConfig`; :func:`classify`
(the pure message -> request step); the errors of :mod:`broker_bridge._errors`.
"""

from broker_bridge._acks import AckOrder, Incoming
from broker_bridge._bridge import Bridge, BridgeConfig, run_bridge
from broker_bridge._confirm import Confirmations
from broker_bridge._downlink import DownlinkStats
from broker_bridge._errors import BridgeError, BrokerError, CoreLinkError
from broker_bridge._handoff import Handoff
from broker_bridge._link import CoreLink
from broker_bridge._metrics import BridgeStats
from broker_bridge._mqtt import MqttSource, TlsFiles
from broker_bridge._quota import Limit, QuotaConfig, Quotas, TenantLimits
from broker_bridge._validate import DEFAULT_MAX_PAYLOAD, classify

__all__ = [
    "DEFAULT_MAX_PAYLOAD",
    "AckOrder",
    "Bridge",
    "BridgeConfig",
    "BridgeError",
    "BridgeStats",
    "BrokerError",
    "Confirmations",
    "CoreLink",
    "CoreLinkError",
    "DownlinkStats",
    "Handoff",
    "Incoming",
    "Limit",
    "MqttSource",
    "QuotaConfig",
    "Quotas",
    "TenantLimits",
    "TlsFiles",
    "classify",
    "run_bridge",
]
