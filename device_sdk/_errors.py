"""Errors raised by device_sdk.

::

    DeviceError               root of everything device_sdk raises
     ├── ConfigError          bad argument or sensor definition (also a ValueError)
     ├── ClosedError          the device was closed
     ├── OutboxError          the durable outbox cannot be opened or written (carries ``path``)
     ├── WorkerError          the background worker failed; raised by the next call or close()
     └── CallbackError        an app callback raised; raised once by the next call or close()
"""

from __future__ import annotations


class DeviceError(Exception):
    """Root of every error device_sdk raises."""


class ConfigError(DeviceError, ValueError):
    """A bad argument: unknown sensor, wrong sample shape, invalid option."""


class ClosedError(DeviceError):
    """The device has been closed."""


class OutboxError(DeviceError):
    """The outbox under ``data_dir`` cannot be used."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(f"{message} ({path})")
        self.path = path


class WorkerError(DeviceError):
    """The device's background worker stopped with an error (the cause is chained)."""


class CallbackError(DeviceError):
    """An ``on_command``/``on_policy`` callback of the app raised (the cause is chained)."""
