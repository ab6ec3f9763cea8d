"""``binhai bench device`` (placeholder until the device benchmark lands)."""

from __future__ import annotations

import click


@click.command("device")
def device_cmd() -> None:
    """device benchmark (not yet built)."""
    raise click.ClickException("device benchmark not built yet")
