"""The parts of the fallback broker that import amqtt (loaded only when the fallback runs).

- ``OpenAuthPlugin`` lets every client in without marking it anonymous. amqtt's own
  ``AnonymousAuthPlugin`` flags each session as anonymous, and amqtt then neither queues QoS 1/2
  messages for an offline ``clean_session=False`` client nor keeps its session.
- ``ClosingBroker`` closes each client connection's stream once amqtt is done with it: amqtt
  leaves the transport of a client that disconnected cleanly open until garbage collection
  (a ResourceWarning, an error under warnings-as-errors).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from amqtt.broker import Broker
from amqtt.plugins.base import BaseAuthPlugin
from amqtt.session import Session

__all__ = ["ClosingBroker", "OpenAuthPlugin"]


class OpenAuthPlugin(BaseAuthPlugin):
    """Authenticate every client; local development brokers only."""

    @dataclass
    class Config:
        """No options."""

    async def authenticate(self, *, session: Session) -> bool | None:
        return True


class ClosingBroker(Broker):
    """amqtt's broker, closing every TCP connection when its session handling ends."""

    async def stream_connected(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, listener_name: str
    ) -> None:
        try:
            await super().stream_connected(reader, writer, listener_name)
        finally:
            writer.close()
