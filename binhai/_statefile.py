"""The state of a served stack in its work directory: who runs it and where its endpoints are.

``binhai up --serve`` holds an exclusive ``flock`` on ``<workdir>/stack.lock`` for as long as it
runs and writes ``<workdir>/stack.json`` once every service is ready. The lock, not the JSON, says
whether a stack is running: the kernel releases it when the process dies, however it dies, so a
state file left behind by a crash is recognised as stale. Other commands read the JSON to find
the running stack (:func:`running_state`); ``binhai down`` signals the pid in it.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

__all__ = [
    "AlreadyRunning",
    "StackLock",
    "StackState",
    "lock_held",
    "read_ports",
    "read_state",
    "running_state",
]

STATE_NAME = "stack.json"
LOCK_NAME = "stack.lock"
PORTS_NAME = "ports.json"  # kept after a stop: the next start binds the same ports if free


class AlreadyRunning(RuntimeError):
    """Another process serves a stack from this work directory."""

    def __init__(self, workdir: Path, pid: int | None) -> None:
        who = f"pid {pid}" if pid else "another process"
        super().__init__(
            f"a stack is already running in {workdir} ({who}); "
            f"stop it with `binhai down --workdir {workdir}`"
        )
        self.workdir = workdir
        self.pid = pid


@dataclass(frozen=True)
class StackState:
    """What ``stack.json`` holds: the serving process and every endpoint of its stack."""

    pid: int
    workdir: str
    started_at: str
    mqtt_url: str
    core_addr: str
    dsn: str
    broker: str
    dashboard: str = ""
    metrics: dict[str, str] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    logs: dict[str, str] = field(default_factory=dict)
    fleet_tenant: str | None = None
    fleet_devices: int = 0
    # Authentication (binhai._stack_security): the data directory holding the credentials, the
    # file (0600) with an operator token that commands use by themselves, and per tenant the
    # file (0600) with the passwords of the devices the stack provisioned. Paths, never secrets.
    auth: bool = False
    data_dir: str = ""
    token_file: str = ""
    credentials: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StackState:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})


def read_state(workdir: Path) -> StackState | None:
    """The state file of ``workdir``, or None when there is none or it is unreadable."""
    try:
        return StackState.from_json(json.loads((workdir / STATE_NAME).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def read_ports(workdir: Path) -> dict[str, int]:
    """The ports the last stack served from ``workdir`` bound, by name ({} when unknown)."""
    try:
        data = json.loads((workdir / PORTS_NAME).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): int(v) for k, v in data.items() if isinstance(v, int)}


def lock_held(workdir: Path) -> bool:
    """Whether some process holds the stack lock of ``workdir`` (a stack runs there)."""
    try:
        fh = (workdir / LOCK_NAME).open("a")
    except OSError:
        return False
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False


def running_state(workdir: Path) -> StackState | None:
    """The state of the stack running in ``workdir``; None when none runs (stale files too)."""
    state = read_state(workdir)
    if state is None or not lock_held(workdir):
        return None
    return state


class StackLock:
    """The exclusive lock a serving process holds on its work directory, and its state file."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock or raise :class:`AlreadyRunning` (with the holder's pid when known)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        fh = (self.workdir / LOCK_NAME).open("a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            text = fh.read().strip()
            fh.close()
            raise AlreadyRunning(self.workdir, int(text) if text.isdigit() else None) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh

    def write(self, state: StackState) -> None:
        """Atomically (re)write the state file, and the ports file that outlives it."""
        _write_json(self.workdir / PORTS_NAME, state.ports)
        _write_json(self.workdir / STATE_NAME, state.to_json())

    def release(self) -> None:
        """Remove the state file and drop the lock; idempotent."""
        fh, self._fh = self._fh, None
        if fh is None:
            return
        (self.workdir / STATE_NAME).unlink(missing_ok=True)
        fh.seek(0)
        fh.truncate()
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


def _write_json(path: Path, data: object) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)
