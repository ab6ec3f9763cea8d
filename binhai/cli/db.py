"""``binhai db``: schema migrations and store statistics."""

from __future__ import annotations

import click

from binhai.cli._options import dsn_option, emit, json_option, run_async


@click.group("db")
def command() -> None:
    """Database schema, statistics, retention and maintenance.

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
    """Devices, batches, windows, samples, dead letters (and how many of them a bridge's quotas
    rate-limited) and unexplained seq gaps.

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


@command.command("retention")
@dsn_option()
@click.option(
    "--older-than",
    required=True,
    help="Drop windows and health reports older than this (e.g. 30d, 12h, 2w).",
)
@click.option(
    "--rollups-older-than",
    default=None,
    help="Also drop rollup buckets older than this (kept by default).",
)
@click.option("--dry-run", is_flag=True, help="Report what would be dropped; change nothing.")
@json_option
def retention_cmd(
    dsn: str, older_than: str, rollups_older_than: str | None, dry_run: bool, as_json: bool
) -> None:
    """Retention: drop old time partitions (or TimescaleDB chunks) of windows and health.

    Whole day partitions older than the cutoff are dropped; rows of the default partition older
    than it are deleted. The batches ledger (dedup, seq gaps) is kept.

    \b
    Examples:
      binhai db retention --older-than 30d --dry-run
      binhai db retention --older-than 30d --rollups-older-than 365d --json
    """
    import psycopg

    from cloud_core import apply_retention, detect, parse_age

    keep = parse_age(older_than)
    keep_rollups = parse_age(rollups_older_than) if rollups_older_than else None

    async def main() -> dict[str, object]:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            caps = await detect(conn)
            res = await apply_retention(
                conn, caps, older_than=keep, rollups_older_than=keep_rollups, dry_run=dry_run
            )
        return res.as_dict()

    emit(run_async(main()), as_json, "retention (dry run)" if dry_run else "retention")


@command.command("maintain")
@dsn_option()
@json_option
def maintain_cmd(dsn: str, as_json: bool) -> None:
    """One maintenance round: day partitions ahead, rollup refresh (what a core runs
    periodically).

    \b
    Examples:
      binhai db maintain --dsn postgresql://127.0.0.1:5432/binhai
      binhai db maintain --json
    """
    from cloud_core import Maintenance

    async def main() -> dict[str, object]:
        m = Maintenance(dsn)
        try:
            r = await m.run_once()
        finally:
            await m.close()
        return {
            "partitions_created": r.partitions_created,
            "dirty_buckets": r.rollups.dirty_buckets,
            "minute_rows": r.rollups.minute_rows,
            "hour_rows": r.rollups.hour_rows,
            "seconds": round(r.seconds, 4),
        }

    emit(run_async(main()), as_json, "maintenance")
