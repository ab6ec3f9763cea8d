"""``binhai down``: stop the stack that ``binhai up --serve`` runs."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import click

from binhai._statefile import lock_held, read_state
from binhai.cli._options import emit, json_option
from binhai.cli._workdir import resolve_workdir

__all__ = ["command"]


@click.command("down")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The served stack's work directory [default: global --workdir / BINHAI_WORKDIR,"
    " else $XDG_DATA_HOME/binhai or ~/.local/share/binhai].",
)
@click.option(
    "--timeout", default=90.0, show_default=True, help="Seconds to wait for a clean stop."
)
@json_option
def command(workdir: Path | None, timeout: float, as_json: bool) -> None:
    """Stop the served stack cleanly (SIGTERM: bridges drain, cores commit, data stays).

    Exits non-zero when no stack runs there or it did not stop within --timeout.

    \b
    Examples:
      binhai down
      binhai down --workdir ./stack --json
    """
    root = resolve_workdir(workdir)
    state = read_state(root)
    if not lock_held(root):
        raise click.ClickException(f"no stack is running in {root}")
    if state is None:
        raise click.ClickException(
            f"a stack in {root} is still starting (no stack.json yet); try again in a moment"
        )
    started = time.monotonic()
    try:
        os.kill(state.pid, signal.SIGTERM)
    except ProcessLookupError:
        raise click.ClickException(f"pid {state.pid} of {root} is gone") from None
    deadline = started + timeout
    while lock_held(root):
        if time.monotonic() > deadline:
            raise click.ClickException(
                f"the stack (pid {state.pid}) did not stop within {timeout:.0f}s;"
                f" see the logs in {root}"
            )
        time.sleep(0.1)
    emit(
        {
            "stopped": True,
            "pid": state.pid,
            "workdir": str(root),
            "seconds": round(time.monotonic() - started, 1),
        },
        as_json,
        "binhai down",
    )
