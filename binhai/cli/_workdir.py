"""Where the served stack lives, and how other commands find it.

The work directory is, first found: a command's own ``--workdir``, the global
``binhai --workdir`` / ``BINHAI_WORKDIR``, else the per-user data directory
(``$XDG_DATA_HOME/binhai``, default ``~/.local/share/binhai``). Options such as ``--dsn`` and
``--core-addr`` default to the running stack's endpoints (from its ``stack.json``) when neither
the command line, the environment nor the config file gives them.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from binhai._statefile import StackState, running_state

__all__ = ["default_workdir", "resolve_workdir", "stack_default", "state_of"]

META_KEY = "binhai.workdir"


def default_workdir() -> Path:
    """The per-user data directory: ``$XDG_DATA_HOME/binhai`` or ``~/.local/share/binhai``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "binhai"


def resolve_workdir(explicit: Path | None = None) -> Path:
    """``explicit``, else the global ``--workdir``/``BINHAI_WORKDIR``, else the default."""
    if explicit is not None:
        return explicit.expanduser().resolve()
    ctx = click.get_current_context(silent=True)
    given = ctx.meta.get(META_KEY) if ctx is not None else None
    return (Path(given).expanduser() if given else default_workdir()).resolve()


def state_of(explicit: Path | None = None) -> StackState | None:
    """The running stack's state in the resolved work directory, or None."""
    return running_state(resolve_workdir(explicit))


def stack_default(key: str, fallback: str | None = None) -> str | None:
    """A click default: the running stack's ``key`` (``dsn``, ``core_addr``, ``mqtt_url``)."""
    state = state_of()
    if state is None:
        return fallback
    value: str = getattr(state, key)
    return value
