"""Processes a crashed ``up --serve`` left behind, found and stopped before a new start.

When the serving process dies without its clean stop (SIGKILL, OOM), its cores, bridges and
mosquitto keep running: they hold the ports and the bridge keeps taking messages. A new start on
the same work directory (its lock is free again) first stops them: every process whose command
line names the work directory and is a binhai service (``-m binhai``) or mosquitto gets SIGTERM
(a core drains, mosquitto saves its persistence), then SIGKILL after ``timeout``. PostgreSQL is
left alone: the embedded server's own start finds a running cluster and uses it. Linux only
(``/proc``); elsewhere nothing is found.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

__all__ = ["find_leftovers", "stop_leftovers"]

log = logging.getLogger(__name__)


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _ours(args: list[str], workdir: str) -> bool:
    if not any(workdir in a for a in args):
        return False
    binhai = any(a == "-m" for a in args) and "binhai" in args
    mosquitto = bool(args) and Path(args[0]).name == "mosquitto"
    return binhai or mosquitto


def find_leftovers(workdir: Path) -> list[int]:
    """Pids of binhai services and mosquitto brokers whose command line names ``workdir``."""
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    skip = {os.getpid(), os.getppid()}
    where = str(workdir.resolve())
    found = []
    for entry in proc.iterdir():
        pid = int(entry.name) if entry.name.isdigit() else 0
        if pid and pid not in skip and _ours(_cmdline(pid), where):
            found.append(pid)
    return sorted(found)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (exited, not yet reaped by its parent) is gone for our purpose
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def stop_leftovers(workdir: Path, *, timeout: float = 30.0) -> list[int]:
    """Stop what :func:`find_leftovers` finds (SIGTERM, SIGKILL after ``timeout``); return it."""
    pids = find_leftovers(workdir)
    if not pids:
        return []
    log.warning("stopping processes a crashed stack left in %s: %s", workdir, pids)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
    deadline = time.monotonic() + timeout
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in (p for p in pids if _alive(p)):
        log.warning("pid %d did not stop on SIGTERM; killing it", pid)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
    return pids
