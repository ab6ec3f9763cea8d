"""``binhai bench ingest`` (placeholder until the ingest benchmark lands)."""

from __future__ import annotations

import click


@click.command("ingest")
def ingest_cmd() -> None:
    """ingest benchmark (not yet built)."""
    raise click.ClickException("ingest benchmark not built yet")
