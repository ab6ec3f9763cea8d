"""``binhai sim propagation``: how fast a policy change reaches a live simulated fleet."""

from __future__ import annotations

import json
import time

import click

__all__ = ["command"]


def _assignment(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        if not sep or not name.strip():
            raise ValueError
        return name.strip(), float(value)
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: expected FIELD=VALUE, e.g. novelty_threshold=7"
        ) from None


@click.command("propagation")
@click.argument("scenario_name", default="mixed")
@click.option("--seed", type=int, default=None, help="Override the scenario's seed.")
@click.option("--duration", type=float, default=120.0, show_default=True, help="Simulated seconds.")
@click.option(
    "--at", "at_s", type=float, default=60.0, show_default=True,
    help="Simulated second at which the tenant's policy changes.",
)  # fmt: skip
@click.option(
    "--set", "assignment", default="novelty_threshold=7", show_default=True,
    help="The change: FIELD=VALUE pinned for the whole tenant (as binhai policy set does).",
)  # fmt: skip
@click.option(
    "--within", "within_s", type=float, default=60.0, show_default=True,
    help="Simulated seconds a device may take to count as reached.",
)  # fmt: skip
@click.option(
    "--speed", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True,
    help="Simulated seconds per wall-clock second.",
)  # fmt: skip
@click.option("--dsn", default=None, help="PostgreSQL (default: an embedded one).")
@click.option("--mqtt-url", default=None, help="Broker (default: an embedded one).")
@click.option(
    "--tenant", default=None, help="Tenant to run as (default: the scenario's name + a suffix)."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object as the last line.")
def command(
    scenario_name: str,
    seed: int | None,
    duration: float,
    at_s: float,
    assignment: str,
    within_s: float,
    speed: float,
    dsn: str | None,
    mqtt_url: str | None,
    tenant: str | None,
    as_json: bool,
) -> None:
    """Run SCENARIO live (real Devices, broker, bridge, core, PostgreSQL), change the tenant's
    policy mid-run through the core's SetPolicy, and measure when each connected device runs
    the new version: the share reached within --within simulated seconds, and the delays.

    \b
    Examples:
      binhai sim propagation mixed
      binhai sim propagation wearables --duration 90 --at 45 --speed 5 --json
      binhai sim propagation mixed --set heartbeat_s=120 --dsn postgresql:///binhai --mqtt-url mqtt://127.0.0.1:1883
    """
    from dataclasses import replace

    from binhai._sim._eval import with_seed
    from binhai._sim._live import LiveConfig
    from binhai._sim._propagation import measure_propagation
    from binhai._sim._run import RunSpec
    from binhai.cli._progress import task_progress
    from firmware_sim import PolicyParams, load_scenario

    name, value = _assignment(assignment)
    if not 0 < at_s < duration:
        raise click.BadParameter(f"--at {at_s:g} must fall inside the run (0..{duration:g} s)")
    scenario = with_seed(load_scenario(scenario_name), seed)
    tenant = tenant or f"{scenario.name}-prop-{int(time.time())}"
    scenario = replace(scenario, name=tenant, duration_s=float(duration))
    spec = RunSpec(scenario, PolicyParams("binhai"))
    config = LiveConfig(speed=speed, dsn=dsn, mqtt_url=mqtt_url)
    with task_progress("propagation") as say:
        out = measure_propagation(
            spec, config, at_s=at_s, fields={name: value}, within_s=within_s, say=say
        )
    figures = {"scenario": scenario_name, "tenant": tenant, "change": {name: value}}
    figures.update(out.as_dict())
    if as_json:
        click.echo(json.dumps(figures))
        return
    click.echo(
        f"{figures['reached']}/{figures['devices']} connected devices ({figures['share']:.1%}) "
        f"ran the new policy within {within_s:g} simulated s; delay p50 "
        f"{figures['delay_p50_s']} s, p99 {figures['delay_p99_s']} s, max "
        f"{figures['delay_max_s']} s (simulated, at {speed:g}x)"
    )
