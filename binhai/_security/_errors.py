"""Errors raised by :mod:`binhai._security`.

::

    SecurityError          root: a credential store, the CA or an identity is unusable
     ├── NotInitialised    the CA or a registry file does not exist yet (carries ``path``)
     └── UnknownIdentity   no such device or token (carries ``name``)

Messages name files and identities, never a secret.
"""

from __future__ import annotations

from pathlib import Path


class SecurityError(ValueError):
    """Root of every error :mod:`binhai._security` raises (a ValueError: bad input or state)."""


class NotInitialised(SecurityError):
    def __init__(self, what: str, path: Path, hint: str) -> None:
        super().__init__(f"no {what} at {path}; {hint}")
        self.path = path


class UnknownIdentity(SecurityError):
    def __init__(self, what: str, name: str) -> None:
        super().__init__(f"unknown {what} {name!r}")
        self.name = name
