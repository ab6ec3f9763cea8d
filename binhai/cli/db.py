"""``binhai db``: schema migrations and store statistics."""

from __future__ import annotations

import click

from binhai.cli._options import dsn_option, emit, json_option, run_async


@click.group("db")
def command() -> None:
    """Database schema and statistics.

    \b
    Examples:
      binhai db migrate --dsn postgresql://127.0.0.1:5432/binhai
      binhai db stats --json
    """


@command.command("migrate")
@dsn_option()
@click.option("--target", type=int, default=None, help="Stop at this schema version.")
def migrate_cmd(dsn: str, target: int | None) -> None:
    """Apply pending schema migrations (TimescaleDB features when available).

    \b
    Examples:
      binhai db migrate --dsn postgresql://127.0.0.1:5432/binhai
      BINHAI_DSN=postgresql:///binhai binhai db migrate
    """
    from cloud_core import migrate

    applied = run_async(migrate(dsn, target=target))
    if applied:
        for m in applied:
            click.echo(f"applied {m.version}: {m.name}")
    else:
        click.echo("schema is up to date")


@command.command("stats")
@dsn_option()
@click.option("--tenant", default="", help="Only this tenant.")
@json_option
def stats_cmd(dsn: str, tenant: str, as_json: bool) -> None:
    """Devices, batches, windows, samples, dead letters and unexplained seq gaps.

    \b
    Examples:
      binhai db stats --dsn postgresql://127.0.0.1:5432/binhai
      binhai db stats --json | tail -1 | jq .gaps_unexplained
    """
    import psycopg

    from cloud_core import stats

    async def main() -> dict[str, int]:
        async with await psycopg.AsyncConnection.connect(dsn) as conn:
            s = await stats(conn, tenant)
        return s.as_dict()

    emit(run_async(main()), as_json, "binhai store")
