"""``binhai bench sim``: the evaluation's speed at fleet scale."""

from __future__ import annotations

import json
import os

import click


@click.command("sim")
@click.option(
    "--scenario", default="wearables", show_default=True, help="Shipped scenario or path."
)
@click.option("--devices", default=1000, show_default=True, help="Devices (groups scaled).")
@click.option("--duration", default=3600.0, show_default=True, help="Simulated seconds.")
@click.option("--workers", type=int, default=None, help="Processes (default: one per core).")
@click.option(
    "--budget",
    default=0.05,
    show_default=True,
    help="The binhai policy's budget (share of all-cloud).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object as the last line.")
def sim_cmd(
    scenario: str, devices: int, duration: float, workers: int | None, budget: float, as_json: bool
) -> None:
    """Run a fleet in virtual time through the real device engine and the in-process cloud,
    and report device-windows per second per core against the 5-minute target for 1,000
    devices x 1 simulated hour.

    \b
    Examples:
      binhai bench sim                              # 1,000 wearables x 1 h
      binhai bench sim --devices 100 --duration 600 --json
      binhai bench sim --scenario mixed --devices 300
    """
    from binhai.bench.sim import bench_sim
    from binhai.cli._options import emit
    from binhai.cli._progress import task_progress

    with task_progress("bench sim") as say:
        out = bench_sim(
            scenario=scenario,
            devices=devices,
            duration_s=duration,
            workers=workers or os.cpu_count() or 1,
            budget=budget,
            say=say,
        )
    if as_json:
        click.echo(json.dumps(out))
    else:
        emit(out, False, "bench sim")
