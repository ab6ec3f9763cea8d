"""Private files: written atomically with mode 0600 in directories with mode 0700.

Every credential file of a deployment (CA key, password file, device registry, token store)
goes through :func:`write_private`, so a crash never leaves a half-written file and no other
local user can read one, even for an instant (the temporary file is created 0600).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "default_data_dir",
    "locked",
    "private_dir",
    "read_json",
    "write_json",
    "write_private",
]


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/binhai``, else ``~/.local/share/binhai``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "binhai"


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) if needed and make it 0700; return it."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Atomically replace ``path`` with ``data``, mode 0600, fsynced."""
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(path)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created 0600): one writer of a credential file at a
    time, across processes, so concurrent commands never lose each other's changes."""
    private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def write_json(path: Path, data: Any) -> None:
    write_private(path, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode())


def read_json(path: Path, default: Any) -> Any:
    """The JSON in ``path``, or ``default`` when the file does not exist."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return default
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        from binhai._security._errors import SecurityError

        raise SecurityError(f"corrupt credential file {path}: {exc.msg}") from exc
