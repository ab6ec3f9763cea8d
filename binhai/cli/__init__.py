"""The ``binhai`` command line: one group per service, plus ``up`` for the embedded default."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Literal

import click

from binhai import __version__
from binhai._config import default_map, load_toml

# The services and tools of this CLI (core, bridge, simulators, benchmarks) run the kernels with
# the Numba JIT (parallel feature batches in the cloud); devices embedding device_sdk get the
# ahead-of-time compiled ones (kernels._backend). Set before anything imports kernels; an
# explicit BINHAI_KERNELS wins.
os.environ.setdefault("BINHAI_KERNELS", "jit")


def _set_workdir(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        from binhai.cli._workdir import META_KEY

        ctx.meta[META_KEY] = value


def _load_config(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is None or ctx.resilient_parsing:
        return
    ctx.default_map = default_map(ctx.command, load_toml(Path(value)))


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="binhai")
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    callback=_load_config,
    is_eager=True,
    expose_value=False,
    envvar="BINHAI_CONFIG",
    help="TOML config file (top-level keys for every command, [group.command] tables).",
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False),
    callback=_set_workdir,
    is_eager=True,
    expose_value=False,
    envvar="BINHAI_WORKDIR",
    help="Work directory of `up --serve`, where other commands find the running stack"
    " [default: $XDG_DATA_HOME/binhai or ~/.local/share/binhai].",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    envvar="BINHAI_LOG_FORMAT",
    show_envvar=True,
    help="Logs on stderr as text, or one JSON object per line (ts, level, logger, msg, fields);"
    " `up` passes it on to the services it starts.",
)
def cli(verbose: int, log_format: Literal["text", "json"]) -> None:
    """binhai: telemetry and end-cloud synergy for smart terminals.

    \b
    Examples:
      binhai up --devices 20 --duration 15     # everything embedded, one command
      binhai up --serve --devices 5            # keep it running; `binhai down` stops it
      binhai --config binhai.toml core serve   # the core as a service
      binhai db stats --json
      binhai --log-format json core serve       # one JSON object per log line
    """
    from binhai.cli._logging import configure

    configure(max(logging.WARNING - 10 * verbose, logging.DEBUG), log_format)


def _register() -> None:
    from binhai.cli import (
        bench,
        bridge,
        broker,
        ca,
        core,
        db,
        device,
        device_command,
        device_ids,
        doctor,
        down,
        policy,
        query,
        sim,
        sim_eval,
        sim_propagation,
        token,
        up,
    )

    for mod in (up, down, core, bridge, sim, db, query, device, policy, doctor, bench):
        cli.add_command(mod.command)
    for mod in (ca, broker, token):
        cli.add_command(mod.command)
    sim.command.add_command(sim_eval.command)
    sim.command.add_command(sim_propagation.command)
    device.command.add_command(device_command.command)
    for sub in device_ids.command.commands.values():  # provision, revoke, provision-fleet
        device.command.add_command(sub)


_register()


def main() -> None:
    """Console entry point: our errors become one line on stderr and a non-zero exit."""
    from binhai.cli._errors import run

    run(cli)


__all__ = ["cli", "main"]
