"""Fault injection into a running :class:`~binhai._stack.Stack`: what ``binhai up --chaos`` and
the chaos tests do while a fleet streams.

:class:`Chaos` runs a schedule of faults in a thread: the broker, a bridge or a core SIGKILLed
(crashes, not shutdowns) and started again after ``down_s``, or every connection to the database
cut repeatedly for ``down_s`` (a database restart, emulated without touching a shared server).
Each fault is logged with its time; ``join`` returns the log. The broker can only be crashed when
it is an embedded one this process owns (``broker``).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Literal

import psycopg

from binhai._embedded import EmbeddedBroker
from binhai._stack import Stack

__all__ = [
    "Chaos",
    "Fault",
    "FaultKind",
    "default_schedule",
    "gaps_unexplained",
    "report_chaos",
    "start_chaos",
    "terminate_backends",
]

log = logging.getLogger(__name__)

FaultKind = Literal["broker", "bridge", "core", "db"]

_TERMINATE = """
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()
"""


def terminate_backends(dsn: str) -> int:
    """Cut every other connection to ``dsn``'s database; return how many."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(_TERMINATE).fetchone()
    return int(row[0]) if row else 0


def gaps_unexplained(dsn: str, tenant: str) -> int:
    """Seqs missing below a stored one of ``tenant`` that no reported eviction explains."""
    import asyncio

    from cloud_core import stats

    async def go() -> int:
        async with await psycopg.AsyncConnection.connect(dsn) as conn:
            return (await stats(conn, tenant)).gaps_unexplained

    return asyncio.run(go())


@dataclass(frozen=True, slots=True)
class Fault:
    """At ``at_s`` seconds: crash ``kind`` (``target``: which bridge or core) for ``down_s``."""

    at_s: float
    kind: FaultKind
    target: str = ""
    down_s: float = 1.0


def default_schedule(
    stack: Stack, duration_s: float, *, broker: bool, rounds: int = 3
) -> list[Fault]:
    """Faults spread over the first 80 % of ``duration_s``: ``rounds`` broker crashes (when
    ``broker``), with a bridge crash, a core crash and a database outage in between."""
    bridges = sorted(n for n in stack.procs if n.startswith("bridge"))
    cores = sorted(n for n in stack.procs if n.startswith("core"))
    others: list[tuple[FaultKind, str, float]] = [
        ("bridge", bridges[0], 1.0),
        ("core", cores[-1], 1.0),
        ("db", "", 3.0),
    ]
    kinds: list[tuple[FaultKind, str, float]] = []
    for i in range(rounds):
        if broker:
            kinds.append(("broker", "", 1.0))
        kinds.append(others[i % len(others)])
    step = 0.8 * duration_s / (len(kinds) + 1)
    return [Fault(step * (i + 1), k, t, d) for i, (k, t, d) in enumerate(kinds)]


@dataclass
class Chaos:
    stack: Stack
    schedule: list[Fault]
    broker: EmbeddedBroker | None = None
    log: list[tuple[float, str]] = field(default_factory=list)
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def start(self) -> Chaos:
        self._thread = threading.Thread(target=self._run, name="chaos", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> list[tuple[float, str]]:
        """Wait for the schedule to finish; return the log; raise what a fault raised."""
        if self._thread is not None:
            self._thread.join(timeout)
        if self.error is not None:
            raise self.error
        return self.log

    def _run(self) -> None:
        t0 = time.monotonic()
        try:
            for fault in sorted(self.schedule, key=lambda f: f.at_s):
                if self._stop.wait(max(0.0, t0 + fault.at_s - time.monotonic())):
                    return
                self._inject(fault)
                self.log.append((round(time.monotonic() - t0, 1), self._describe(fault)))
        except BaseException as exc:
            log.exception("chaos: a fault could not be injected")
            self.error = exc

    @staticmethod
    def _describe(f: Fault) -> str:
        what = {
            "broker": "broker SIGKILLed",
            "bridge": f"{f.target} SIGKILLed",
            "core": f"{f.target} SIGKILLed",
            "db": "database connections cut",
        }[f.kind]
        return f"{what}, back after {f.down_s:g} s"

    def _inject(self, f: Fault) -> None:
        log.warning("chaos: %s", self._describe(f))
        if f.kind == "broker":
            if self.broker is None:
                raise ValueError("no embedded broker to crash")
            self.broker.kill()
            time.sleep(f.down_s)
            self.broker.start()
        elif f.kind in ("bridge", "core"):
            self.stack.kill(f.target)
            time.sleep(f.down_s)
            self.stack.start_proc(f.target)
        else:
            assert self.stack.dsn is not None
            deadline = time.monotonic() + f.down_s
            while time.monotonic() < deadline:  # every reconnect is cut again
                terminate_backends(self.stack.dsn)
                time.sleep(0.05)


def start_chaos(stack: Stack, wall_s: float) -> Chaos:
    """``binhai up --chaos``: the default schedule over ``wall_s`` seconds of streaming, the
    broker crashed too when it is embedded."""
    sched = default_schedule(stack, wall_s, broker=stack.broker is not None)
    return Chaos(stack, sched, broker=stack.broker).start()


def report_chaos(chaos: Chaos) -> list[str]:
    """Wait for the faults to end; return them as lines (``t s: what``)."""
    return [f"{t:.1f} s: {what}" for t, what in chaos.join()]
