"""A live rich view of a running fleet (on stderr, so stdout stays clean for --json)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from firmware_sim import Progress as FleetProgress


@contextmanager
def fleet_progress(duration_s: float, devices: int) -> Iterator[FleetProgress]:
    console = Console(stderr=True)
    columns = (
        TextColumn("[bold]fleet[/]"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f} sim s"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("fleet", total=duration_s, info="starting")

        def update(sim_s: float, stats: list[dict[str, Any]]) -> None:
            connected = sum(1 for s in stats if s["connected"])
            created = sum(s["batches_created"] for s in stats)
            acked = sum(s["batches_acked"] for s in stats)
            depth = sum(s["outbox_depth"] for s in stats)
            info = (
                f"online {connected}/{devices} · batches {created} · acked {acked} · outbox {depth}"
            )
            bar.update(task, completed=sim_s, info=info)

        yield update


@contextmanager
def task_progress(title: str) -> Iterator[Callable[[str], None]]:
    """A spinner on stderr; the yielded ``say(step)`` shows each new step and counts them."""
    console = Console(stderr=True)
    columns = (
        SpinnerColumn(),
        TextColumn(f"[bold]{title}[/]"),
        TextColumn("{task.completed:.0f} done"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(title, total=None, info="starting")
        steps = 0

        def say(step: str) -> None:
            nonlocal steps
            bar.update(task, completed=steps, info=step)
            steps += 1

        yield say
        bar.update(task, completed=steps, info="finished")
