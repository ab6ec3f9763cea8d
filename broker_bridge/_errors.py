"""Errors raised by broker_bridge.

::

    BridgeError            root of everything broker_bridge raises
     ├── BrokerError       the MQTT broker refused or dropped us (carries ``reason_code``)
     └── CoreLinkError     the gRPC link to the core failed for good (carries ``code``)
"""

from __future__ import annotations


class BridgeError(Exception):
    """Root of every error broker_bridge raises."""


class BrokerError(BridgeError):
    def __init__(self, message: str, *, reason_code: int | None = None) -> None:
        super().__init__(message)
        self.reason_code = reason_code


class CoreLinkError(BridgeError):
    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code
