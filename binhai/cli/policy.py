"""``binhai policy``: see and override the cloud's device policies (the core's Control gRPC)."""

from __future__ import annotations

import json
from typing import Any

import click

from binhai.cli._options import call_core, core_auth_options, core_option, json_option, run_async

__all__ = ["command"]


async def _call(addr: str, method: str, request: Any) -> Any:
    from protos.binhai.v1 import control_pb2_grpc

    return await call_core(addr, control_pb2_grpc.ControlStub, method, request)


def _scope(group: str | None, device: str | None) -> tuple[str, str]:
    """(the PolicyScope's name, the key)."""
    if group is not None and device is not None:
        raise click.UsageError("give --group or --device, not both")
    if device is not None:
        return "POLICY_SCOPE_DEVICE", device
    if group is not None:
        return "POLICY_SCOPE_GROUP", group
    return "POLICY_SCOPE_TENANT", ""


def _assignment(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise click.BadParameter(f"{text!r}: expected FIELD=VALUE, e.g. novelty_threshold=6")
    try:
        return name.strip(), float(value)
    except ValueError:
        raise click.BadParameter(f"{text!r}: {value!r} is not a number") from None


_scope_options = [
    click.option("--tenant", required=True, help="Tenant id."),
    click.option("--group", default=None, help="A group of devices: device-id pattern (glob)."),
    click.option("--device", default=None, help="One device id."),
]


def _with_scope(f: Any) -> Any:
    for opt in reversed(_scope_options):
        f = opt(f)
    return f


@click.group("policy")
def command() -> None:
    """The cloud's device policies: what the engine set, what operators pinned.

    A policy applies to a tenant, a group (a device-id pattern, shell glob) or one device; the
    narrowest scope wins. Fields an operator sets are pinned: the engine never changes them.

    \b
    Examples:
      binhai policy show --tenant acme --device wrist-00001
      binhai policy set --tenant acme --group 'wrist-*' novelty_threshold=6
      binhai policy set --tenant acme --device wrist-00001 --unpin novelty_threshold
    """


@command.command("show")
@core_option
@core_auth_options
@_with_scope
@json_option
def show_cmd(
    core_addr: str, tenant: str, group: str | None, device: str | None, as_json: bool
) -> None:
    """The effective policy at a scope: every field, its value and its source (default, engine,
    or operator:<scope>), the scope's own pins, and for a device the policy version the cloud
    sent and the one its last health report said it runs.

    \b
    Examples:
      binhai policy show --tenant acme
      binhai policy show --tenant acme --group 'wrist-*' --json
      binhai policy show --tenant acme --device wrist-00001
    """
    import protos

    kind, key = _scope(group, device)
    reply = run_async(
        _call(core_addr, "GetPolicy", protos.GetPolicyRequest(tenant=tenant, scope=kind, key=key))
    )
    scope = "device" if device else "group" if group else "tenant"
    data: dict[str, Any] = {
        "tenant": tenant,
        "scope": scope,
        "key": key,
        "fields": {f.name: {"value": f.value, "source": f.source} for f in reply.fields},
        "pinned": {f.name: f.value for f in reply.pinned},
    }
    if device:
        data.update(version=reply.version, device_version=reply.device_version)
    if as_json:
        click.echo(json.dumps(data))
        return
    from rich.console import Console
    from rich.table import Table

    title = f"policy of {tenant}" + (f" {scope} {key}" if key else "")
    table = Table(title=title)
    for col in ("field", "value", "source"):
        table.add_column(col)
    for name, f in data["fields"].items():
        table.add_row(name, f"{f['value']:g}", f["source"])
    Console().print(table)
    if device:
        click.echo(f"version sent {reply.version}, running {reply.device_version}")


@command.command("set")
@core_option
@core_auth_options
@_with_scope
@click.option("--unpin", multiple=True, help="A field to give back to the engine (repeatable).")
@click.argument("assignments", nargs=-1)
@json_option
def set_cmd(
    core_addr: str,
    tenant: str,
    group: str | None,
    device: str | None,
    unpin: tuple[str, ...],
    assignments: tuple[str, ...],
    as_json: bool,
) -> None:
    """Pin FIELD=VALUE at a scope (and unpin fields); the devices concerned get a Policy
    command at once. Fields: novelty_threshold, heartbeat_s, raw_per_episode,
    explore_fraction, both_fraction, budget_bytes_per_s, budget_burst_bytes.

    \b
    Examples:
      binhai policy set --tenant acme novelty_threshold=5
      binhai policy set --tenant acme --group 'env-*' heartbeat_s=600 raw_per_episode=1
      binhai policy set --tenant acme --device wrist-00001 --unpin novelty_threshold --json
    """
    import protos

    if not assignments and not unpin:
        raise click.UsageError("give FIELD=VALUE assignments or --unpin FIELD")
    fields = dict(_assignment(a) for a in assignments)
    kind, key = _scope(group, device)
    req = protos.SetPolicyRequest(
        tenant=tenant, scope=kind, key=key, fields=fields, unpin=list(unpin)
    )
    reply = run_async(_call(core_addr, "SetPolicy", req))
    if as_json:
        click.echo(json.dumps({"commands": reply.commands, "pinned": fields, "unpin": unpin}))
    else:
        click.echo(f"pinned {fields or '{}'}; policy commands sent: {reply.commands}")
