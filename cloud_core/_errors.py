"""Errors raised by cloud_core.

::

    CoreError                      root of everything cloud_core raises
     ├── StorageError              the database refused or failed (carries ``sqlstate``)
     │    └── MigrationError       a schema migration could not be applied
     └── RejectedItem              one ingest item is invalid (carries ``reason``); it is
                                   dead-lettered, never raised past the ingest path
"""

from __future__ import annotations


class CoreError(Exception):
    """Root of every error cloud_core raises."""


class StorageError(CoreError):
    """The database refused or failed; ``sqlstate`` is set when PostgreSQL gave one."""

    def __init__(self, message: str, *, sqlstate: str | None = None) -> None:
        super().__init__(message if sqlstate is None else f"{message} (sqlstate {sqlstate})")
        self.sqlstate = sqlstate


class MigrationError(StorageError):
    """A schema migration failed; the database is left at the previous version."""


class RejectedItem(CoreError):
    """An ingest item the core will not store as data; it becomes a dead letter."""

    def __init__(self, reason: str, *, device_id: str = "", seq: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.device_id = device_id
        self.seq = seq
