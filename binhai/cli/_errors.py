"""The one place where errors from every package become a one-line message and an exit code."""

from __future__ import annotations

import signal
import sys
from types import FrameType

import click

from binhai.cli._logging import error


def _roots() -> tuple[type[BaseException], ...]:
    import psycopg

    from binhai._embedded import EmbeddedError
    from binhai._stack import StackError
    from broker_bridge import BridgeError
    from cloud_core import CoreError
    from device_sdk import DeviceError
    from firmware_sim import SimError
    from kernels import KernelError

    return (
        BridgeError,
        CoreError,
        DeviceError,
        SimError,
        KernelError,
        EmbeddedError,
        StackError,
        psycopg.Error,
        ValueError,
        OSError,
    )


def _terminated(signum: int, frame: FrameType | None) -> None:
    # unwind like Ctrl-C does, so that every ``with`` closes what it opened: worker pools,
    # embedded services (the default action would leave the child processes running)
    raise SystemExit(128 + signum)


def run(cli: click.Group) -> None:
    # services (``core serve``, ``bridge run``, ``up``) replace this with their own drain
    signal.signal(signal.SIGTERM, _terminated)
    try:
        # without standalone mode click returns ctx.exit(code)'s code instead of exiting
        code = cli.main(standalone_mode=False)
        if isinstance(code, int) and code != 0:
            sys.exit(code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        if isinstance(exc, click.UsageError):
            exc.show()  # usage text, for a person at a terminal
        else:
            error(exc.format_message())
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except _roots() as exc:
        error(" ".join(str(exc).split()))
        sys.exit(1)
