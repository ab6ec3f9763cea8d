"""``binhai device``: the fleet's devices as an operator sees them (list, show, command)."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import click

from binhai.cli._options import dsn_option, json_option, run_async
from binhai.cli.query import _iso as iso

if TYPE_CHECKING:
    import psycopg

__all__ = ["command", "resolve_tenant"]


@click.group("device")
def command() -> None:
    """Devices: presence, health, gaps, policy, and commands with the device's answer.

    \b
    Examples:
      binhai device list
      binhai device show dev-00003 --json
      binhai device command dev-00003 flush
    """


def ago(ns: int) -> str:
    """``12s ago``, ``5m ago``, ``3h ago``, ``2d ago``; ``never`` for 0."""
    if not ns:
        return "never"
    s = max(0.0, time.time() - ns / 1e9)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s / size:.0f}{unit} ago"
    return f"{s:.0f}s ago"


async def resolve_tenant(conn: psycopg.AsyncConnection, device_id: str, tenant: str | None) -> str:
    """``tenant`` if given, else the one tenant that has this device; a clear error otherwise."""
    from cloud_core import device_tenants

    if tenant:
        return tenant
    tenants = await device_tenants(conn, device_id)
    if not tenants:
        raise click.ClickException(f"no device {device_id!r} is known (give --tenant?)")
    if len(tenants) > 1:
        raise click.ClickException(
            f"device {device_id!r} exists in several tenants ({', '.join(tenants)}): give --tenant"
        )
    return str(tenants[0])


tenant_option = click.option(
    "--tenant", default=None, help="Tenant id [default: the only tenant with this device]."
)
online_window_option = click.option(
    "--online-window",
    default=120,
    show_default=True,
    help="Seconds since the last batch that count as online when presence is unknown.",
)


@command.command("list")
@dsn_option()
@click.option("--tenant", default="", help="Only this tenant (default: all).")
@click.option("--online", "online_only", is_flag=True, help="Only devices online now.")
@online_window_option
@click.option("--limit", default=1000, show_default=True, help="At most this many devices.")
@json_option
def list_cmd(
    dsn: str, tenant: str, online_only: bool, online_window: int, limit: int, as_json: bool
) -> None:
    """Every device: online, last seen, firmware, battery, outbox, seq gaps, policy state.

    Gaps are missing seq numbers: "unexplained/explained" (explained ones were evicted by the
    device and reported). Policy is the state of the last policy sent: none, pending (not yet
    acknowledged), acked or refused.

    \b
    Examples:
      binhai device list
      binhai device list --tenant demo --online
      binhai device list --json | tail -1 | jq '.devices[] | select(.battery < 0.2)'
    """
    import psycopg

    from cloud_core import device_list

    async def main() -> list[dict[str, Any]]:
        async with await psycopg.AsyncConnection.connect(dsn) as conn:
            rows = await device_list(
                conn, tenant, online_only=online_only, online_window_s=online_window, limit=limit
            )
        return [r.as_dict() for r in rows]

    rows = run_async(main())
    if as_json:
        click.echo(json.dumps({"devices": rows}))
        return
    _print_list(rows)


def _print_list(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(rows)} devices")
    for col in ("tenant", "device", "online", "last seen", "firmware", "battery", "outbox"):
        table.add_column(col)
    table.add_column("gaps", justify="right")
    table.add_column("policy")
    for r in rows:
        battery = "-" if r["battery"] is None else f"{r['battery']:.0%}"
        outbox = "-" if r["outbox_depth"] is None else str(r["outbox_depth"])
        table.add_row(
            r["tenant"],
            r["device_id"],
            "yes" if r["online"] else "no",
            ago(r["last_seen_ns"]),
            r["firmware"] or "-",
            battery,
            outbox,
            f"{r['gaps_unexplained']}/{r['gaps_explained']}",
            r["policy"],
        )
    Console().print(table)


@command.command("show")
@click.argument("device_id")
@dsn_option()
@tenant_option
@online_window_option
@json_option
def show_cmd(
    device_id: str, dsn: str, tenant: str | None, online_window: int, as_json: bool
) -> None:
    """One device: presence, seq and gaps, latest health, current policy, recent commands.

    \b
    Examples:
      binhai device show dev-00003
      binhai device show my-board --tenant mine --json
    """
    import psycopg

    from cloud_core import current_policy, device_detail, recent_commands

    async def main() -> dict[str, Any]:
        async with await psycopg.AsyncConnection.connect(dsn) as conn:
            t = await resolve_tenant(conn, device_id, tenant)
            detail = await device_detail(conn, t, device_id, online_window_s=online_window)
            if not detail.found:
                raise click.ClickException(f"no device {device_id!r} in tenant {t!r}")
            policy = await current_policy(conn, t, device_id)
            commands = await recent_commands(conn, t, device_id)
        data = {"tenant": t, "device_id": device_id, **detail.as_dict()}
        data["policy"] = policy
        data["recent_commands"] = [c.as_dict() for c in commands]
        return data

    data = run_async(main())
    if as_json:
        click.echo(json.dumps(data, default=str))
        return
    _print_show(data)


def _print_show(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"device {data['tenant']}/{data['device_id']}", show_header=False)
    table.add_row("online", "yes" if data["online"] else "no")
    table.add_row("last seen", f"{ago(data['last_seen_ns'])} ({iso(data['last_seen_ns'])})")
    table.add_row("first seen", iso(data["first_seen_ns"]))
    table.add_row("last seq", str(data["last_seq"]))
    table.add_row("batches / windows", f"{data['batches']} / {data['windows']}")
    table.add_row(
        "gaps", f"{data['gaps_unexplained']} unexplained, {data['gaps_explained']} explained"
    )
    for key, value in (data.get("health") or {}).items():
        table.add_row(f"health.{key}", str(value))
    policy = data["policy"]
    table.add_row(
        "policy",
        "none stored"
        if policy is None
        else f"{policy['status']} {json.dumps(policy['fields'])} ({iso(policy['created_ns'])})",
    )
    for c in data["recent_commands"]:
        answer = c["status"] + (f": {c['reason']}" if c["reason"] else "")
        table.add_row(f"command {c['kind']}", f"{answer} ({iso(c['created_ns'])}, id {c['id']})")
    Console().print(table)
