"""``binhai token``: bearer tokens for the core's gRPC services."""

from __future__ import annotations

from pathlib import Path

import click

from binhai.cli._options import data_dir_option, emit, json_option, layout_of

ROLES = ("bridge", "operator", "reader")


@click.group("token")
def command() -> None:
    """Bearer tokens for the core (stored hashed in DATA_DIR/security/tokens.json, 0600).

    Roles: bridge (Ingest, Downlinks), operator (Query and Control; one tenant or all),
    reader (Query; one tenant). Used by 'binhai core serve --auth'.

    \b
    Examples:
      binhai token create bridge-1 --role bridge
      binhai token create acme-ops --role operator --tenant acme
      binhai token list --json
      binhai token revoke acme-ops
    """


@command.command("create")
@data_dir_option
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the token may call.")
@click.option("--tenant", default=None, help="Confine to one tenant (required for readers).")
@json_option
def create_cmd(
    data_dir: Path | None, name: str, role: str, tenant: str | None, as_json: bool
) -> None:
    """Create token NAME and print it once (only its hash is kept).

    \b
    Examples:
      binhai token create bridge-1 --role bridge
      binhai token create dashboards --role reader --tenant acme --json
    """
    from binhai._security import TokenStore

    rec, token = TokenStore(layout_of(data_dir).tokens).create(
        name,
        role,  # type: ignore[arg-type]
        tenant,
    )
    emit({**rec.public(), "token": token}, as_json, f"token {name}")
    if not as_json:
        click.echo("the token is not stored: copy it now (BINHAI_TOKEN or --token)", err=True)


@command.command("list")
@data_dir_option
@json_option
def list_cmd(data_dir: Path | None, as_json: bool) -> None:
    """The tokens: id, name, role, tenant and creation time (never the token).

    \b
    Examples:
      binhai token list
      binhai token list --json | tail -1 | jq '.tokens[].name'
    """
    import json
    from datetime import datetime, timezone

    from binhai._security import TokenStore

    records = sorted(TokenStore(layout_of(data_dir).tokens).load().values(), key=lambda r: r.name)
    rows = [r.public() for r in records]
    if as_json:
        click.echo(json.dumps({"tokens": rows}))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(rows)} token(s)")
    for col in ("id", "name", "role", "tenant", "created"):
        table.add_column(col)
    for r in rows:
        created = datetime.fromtimestamp(r["created"], timezone.utc).isoformat(timespec="seconds")
        table.add_row(r["id"], r["name"], r["role"], r["tenant"], created)
    Console().print(table)


@command.command("revoke")
@data_dir_option
@click.argument("name_or_id")
@json_option
def revoke_cmd(data_dir: Path | None, name_or_id: str, as_json: bool) -> None:
    """Revoke a token by name or id; a running core refuses it within a second.

    \b
    Examples:
      binhai token revoke acme-ops
      binhai token revoke 3f9a0c1e --json
    """
    from binhai._security import TokenStore

    rec = TokenStore(layout_of(data_dir).tokens).revoke(name_or_id)
    emit({**rec.public(), "revoked": True}, as_json, f"revoked token {rec.name}")
