"""``binhai bench``: benchmarks that print ratios measured side by side in one run."""

from __future__ import annotations

import click

from binhai.cli.bench_device import device_cmd
from binhai.cli.bench_ingest import ingest_cmd
from binhai.cli.bench_kernels import kernels_cmd
from binhai.cli.bench_sim import sim_cmd


@click.group("bench")
def command() -> None:
    """Benchmarks; each prints ratios measured side by side in one run.

    \b
    Examples:
      binhai bench kernels
      binhai bench kernels --json | tail -1
      binhai bench sim --devices 1000 --duration 3600
    """


for cmd in (kernels_cmd, device_cmd, ingest_cmd, sim_cmd):
    command.add_command(cmd)
