"""An amqtt auth plugin that lets every client in without marking it anonymous.

amqtt's own ``AnonymousAuthPlugin`` flags each session as anonymous, and amqtt then neither queues
QoS 1/2 messages for an offline ``clean_session=False`` client nor keeps its session. This plugin
accepts the same clients but keeps persistent sessions working (in memory, until the broker stops).
Loaded by dotted path from the broker config, so amqtt is imported only when the fallback runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from amqtt.plugins.base import BaseAuthPlugin
from amqtt.session import Session

__all__ = ["OpenAuthPlugin"]


class OpenAuthPlugin(BaseAuthPlugin):
    """Authenticate every client; local development brokers only."""

    @dataclass
    class Config:
        """No options."""

    async def authenticate(self, *, session: Session) -> bool | None:
        return True
