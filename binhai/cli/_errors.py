"""The one place where errors from every package become a one-line message and an exit code."""

from __future__ import annotations

import sys

import click


def _roots() -> tuple[type[BaseException], ...]:
    import psycopg

    from binhai._embedded import EmbeddedError
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
        psycopg.Error,
        ValueError,
        OSError,
    )


def run(cli: click.Group) -> None:
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
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except _roots() as exc:
        click.echo(f"error: {' '.join(str(exc).split())}", err=True)
        sys.exit(1)
