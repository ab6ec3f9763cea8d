"""``binhai bench kernels`` (owned by the kernels work; placeholder until it lands)."""

from __future__ import annotations

import click


@click.command("kernels")
def kernels_cmd() -> None:
    """Kernel benchmark (not yet built)."""
    raise click.ClickException("kernel benchmark not built yet")
