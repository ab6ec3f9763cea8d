"""``binhai sim eval``: score offload policies against the ground truth, in virtual time."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from device_sdk import SynergyConfig

_COLUMNS = (
    ("policy", "policy"),
    ("budget", "budget"),
    ("rho", "rho"),
    ("meets_budget", "fits"),
    ("event_recall", "recall"),
    ("evidence_recall", "evidence"),
    ("alert_precision", "precision"),
    ("latency_p50_windows", "lat p50"),
    ("latency_p95_windows", "lat p95"),
    ("latency_p95_windows_online", "p95 online"),
    ("alerts", "alerts"),
    ("lost", "lost"),
    ("duplicates", "dup"),
)


def _floats(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise click.BadParameter(f"not a list of numbers: {text!r}") from exc
    if not values or any(not 0 < v <= 1 for v in values):
        raise click.BadParameter("budgets are fractions in (0, 1], e.g. 0.01,0.05,0.2")
    return values


def _synergy(raw_per_episode: int | None) -> SynergyConfig | None:
    from device_sdk import SynergyConfig

    if raw_per_episode is None:
        return None
    return SynergyConfig(raw_per_episode=raw_per_episode)


def _names(text: str) -> list[str]:
    from firmware_sim import POLICIES

    names = [v.strip() for v in text.split(",") if v.strip()]
    unknown = [n for n in names if n not in POLICIES]
    if unknown or not names:
        raise click.BadParameter(
            f"unknown policy {', '.join(unknown) or '(none)'}; choose from {', '.join(POLICIES)}"
        )
    return names


@click.command("eval")
@click.option(
    "--scenario", "scenario_name", default="mixed", show_default=True,
    help="A shipped scenario (binhai sim scenarios) or a path to a .toml file.",
)  # fmt: skip
@click.option("--seed", type=int, default=None, help="Override the scenario's seed.")
@click.option(
    "--policies",
    default="all_cloud,all_edge,periodic,send_on_delta,swinging_door,binhai,oracle",
    show_default=True,
    help="Comma-separated policies to score.",
)
@click.option(
    "--budgets",
    default="0.01,0.02,0.05,0.1,0.2",
    show_default=True,
    help="Budgets as fractions of the all-cloud bytes (for the policies that take one).",
)
@click.option(
    "--duration", type=float, default=None, help="Simulated seconds (default: the scenario's)."
)
@click.option("--workers", type=int, default=None, help="Worker processes (default: one per core).")
@click.option("--step", type=float, default=1.0, show_default=True, help="Virtual-time step, s.")
@click.option(
    "--fit-seconds", "fit_s", type=float, default=300.0, show_default=True,
    help="Scenario prefix on which budgeted baselines are fitted.",
)  # fmt: skip
@click.option(
    "--report", "report_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Write report.html and PNG plots into this directory.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object as the last line.")
@click.option(
    "--live", is_flag=True,
    help="Run each policy through a real broker, bridge, core and PostgreSQL (embedded) and "
    "score it from the database; each row gets its agreement with the in-process run.",
)  # fmt: skip
@click.option(
    "--speed", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True,
    help="With --live: simulated seconds per wall-clock second.",
)  # fmt: skip
@click.option(
    "--policy-loop/--no-policy-loop", default=True, show_default=True,
    help="Close the loop in the binhai runs: the cloud's policy engine steers every device's "
    "novelty threshold and battery mode (every --policy-period simulated seconds).",
)  # fmt: skip
@click.option(
    "--policy-period", type=click.FloatRange(min=0, min_open=True), default=60.0,
    show_default=True, help="Simulated seconds between the policy engine's rounds.",
)  # fmt: skip
@click.option(
    "--raw-per-episode", type=click.IntRange(min=1), default=None,
    help="The binhai devices' RAW windows per episode before its runs go COMPACT (default: the "
    "SDK's, 2); a large number sends every flagged window RAW while the budget allows (the "
    "evidence setting, e.g. 100000 with --budgets 0.5).",
)  # fmt: skip
@click.option(
    "--battery", type=click.FloatRange(0.0, 1.0), default=None,
    help="Every device's battery level at the start (default: the scenario's), e.g. 0.15 to "
    "score the fleet below the low-battery threshold.",
)  # fmt: skip
def command(
    scenario_name: str,
    seed: int | None,
    policies: str,
    budgets: str,
    duration: float | None,
    workers: int | None,
    step: float,
    fit_s: float,
    report_dir: Path | None,
    as_json: bool,
    live: bool,
    speed: float,
    policy_loop: bool,
    policy_period: float,
    raw_per_episode: int | None,
    battery: float | None,
) -> None:
    """Score offload policies on a scenario's signals against its ground truth.

    Runs the scenario in virtual time through the real device engine (windows, kernels,
    novelty, offload decision, batches, outbox) with a transport that counts wire bytes, and
    the core's own judgement and alerting in process — no wall-clock waits. Prints, per policy
    and budget: rho (uplink bytes ÷ all-cloud bytes), event recall, evidence recall, alert
    precision, onset-to-alert latency in windows, and delivery (lost, duplicated).

    \b
    Examples:
      binhai sim eval --scenario mixed
      binhai sim eval --scenario wearables --policies binhai,periodic --budgets 0.05 --json
      binhai sim eval --scenario mixed --seed 7 --report out/
      binhai sim eval --scenario ./my.toml --duration 600 --workers 2
      binhai sim eval --scenario mixed --duration 300 --policies binhai,oracle --live --speed 20
      binhai sim eval --scenario mixed --policies binhai --budgets 0.05 --battery 0.15
      binhai sim eval --policies binhai,oracle --budgets 0.5 --raw-per-episode 100000
    """
    from binhai._sim._eval import Evaluation, with_seed
    from binhai.cli._progress import task_progress
    from cloud_core import PolicyEngineConfig
    from firmware_sim import load_scenario

    names = _names(policies)
    fractions = _floats(budgets)
    scenario = with_seed(load_scenario(scenario_name), seed)
    from dataclasses import replace

    if duration is not None:
        scenario = replace(scenario, duration_s=float(duration))
    if battery is not None:
        groups = tuple(replace(g, battery=battery) for g in scenario.devices)
        scenario = replace(scenario, devices=groups)
    n_workers = workers or os.cpu_count() or 1
    with (
        task_progress("eval") as say,
        Evaluation(
            scenario,
            workers=n_workers,
            step_s=step,
            fit_s=fit_s,
            progress=say,
            policy=PolicyEngineConfig(period_s=policy_period) if policy_loop else None,
            synergy=_synergy(raw_per_episode),
        ) as ev,
    ):
        if live:
            from binhai._sim._live import LiveConfig, evaluate_live

            rows = evaluate_live(ev, names, fractions, LiveConfig(speed=speed), progress=say)
        else:
            rows = ev.evaluate(names, fractions)
    out: dict[str, Any] = {
        "scenario": scenario.name,
        "seed": scenario.seed,
        "policy_loop": policy_loop,
        "results": rows,
    }
    if report_dir is not None:
        from binhai._sim._report import write_report

        path = write_report(out, report_dir)
        click.echo(f"report: {path}", err=True)
    if as_json:
        click.echo(json.dumps(out))
        return
    _print_table(out)


def _print_table(out: dict[str, Any]) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    rows = [["-" if r[k] is None else str(r[k]) for k, _ in _COLUMNS] for r in out["results"]]
    # no border lines, and no column narrower than its longest word: a header may wrap at its
    # spaces, but a policy's name or a figure is never cut to an ellipsis (13 columns: ~115)
    table = Table(
        title=f"sim eval — {out['scenario']} (seed {out['seed']})",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
        pad_edge=False,
    )
    need = 2
    for i, (_, title) in enumerate(_COLUMNS):
        width = max(len(w) for text in (title, *(r[i] for r in rows)) for w in text.split())
        table.add_column(title, justify="left" if title == "policy" else "right", min_width=width)
        need += width + 3  # the column, its padding and its separator
    for cells in rows:
        table.add_row(*cells)
    console = Console()
    # narrower than its minimum, rich would drop columns: wider lines (a terminal wraps them)
    # lose none
    console.width = max(console.width, need)
    console.print(table)
