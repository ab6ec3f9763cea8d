"""``binhai doctor``: checks of a deployment, each a line saying what is wrong and what to fix.

Every check returns :class:`Check` results and never raises for what it checks (an unreachable
broker is a failed check, not an exception). Status levels: ``ok``, ``info`` (a fact worth
knowing, e.g. TimescaleDB absent), ``warn`` (works, but a setting or a device needs attention),
``fail`` (broken) and ``skip`` (not checkable with what was given).
"""

from binhai._doctor._broker import check_broker, check_mosquitto_conf, parse_mosquitto_conf
from binhai._doctor._check import Check, Status, worst
from binhai._doctor._database import check_database
from binhai._doctor._services import (
    check_core_auth,
    check_core_health,
    check_dashboard,
    check_metrics,
)

__all__ = [
    "Check",
    "Status",
    "check_broker",
    "check_core_auth",
    "check_core_health",
    "check_dashboard",
    "check_database",
    "check_metrics",
    "check_mosquitto_conf",
    "parse_mosquitto_conf",
    "worst",
]
