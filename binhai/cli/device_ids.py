"""``binhai device provision`` / ``revoke``: device identities for the broker.

Plain commands, collected in a ``device`` group here; the CLI registers them beside the other
``device`` commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from binhai.cli._options import data_dir_option, emit, json_option, layout_of


def _regenerated(layout: Any) -> str:
    from binhai._security import regenerate

    files = regenerate(layout)
    if files is None:
        return "no broker configuration yet (run 'binhai broker config')"
    pid = _reload_stack_broker(layout.data_dir)
    if pid is not None:
        return (
            f"{files.config} (the running stack's mosquitto, pid {pid}, reloaded it;"
            " certificate revocations need a restart)"
        )
    return f"{files.config} (send mosquitto SIGHUP; restart it for certificate revocations)"


def _reload_stack_broker(data_dir: Path) -> int | None:
    """SIGHUP the running ``up --serve`` stack's mosquitto when ``data_dir`` is its data
    directory (it re-reads passwords and ACL); its pid, or None when there is no such stack."""
    import os
    import signal

    from binhai.cli._workdir import state_of

    state = state_of()
    pid = state.pids.get("broker") if state is not None and state.data_dir else None
    if state is None or pid is None or Path(state.data_dir).resolve() != data_dir.resolve():
        return None
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        return None
    return pid


@click.command("provision")
@data_dir_option
@click.option("--tenant", required=True, help="The device's tenant.")
@click.argument("device_id")
@click.option(
    "--cert", "use_cert", is_flag=True, help="A client certificate (CN tenant/device) instead."
)
@click.option(
    "--rotate", is_flag=True, help="Replace existing credentials (old ones stop working)."
)
@json_option
def provision_cmd(
    data_dir: Path | None,
    tenant: str,
    device_id: str,
    use_cert: bool,
    rotate: bool,
    as_json: bool,
) -> None:
    """Give DEVICE_ID an identity on the broker: a random password (shown once; only its hash
    is kept) or, with --cert, a client certificate signed by the CA. The MQTT username is
    TENANT/DEVICE_ID. The broker configuration is regenerated.

    \b
    Examples:
      binhai device provision --tenant acme dev-001
      binhai device provision --tenant acme dev-002 --cert --json
      binhai device provision --tenant acme dev-001 --rotate
    """
    from binhai._security import IdentityStore, device_username

    layout = layout_of(data_dir)
    store = IdentityStore(layout)
    username = device_username(tenant, device_id)
    out: dict[str, Any] = {"username": username, "tenant": tenant, "device_id": device_id}
    if use_cert:
        issued = store.add_cert(
            username, role="device", tenant=tenant, device_id=device_id, replace=rotate
        )
        cert, key = layout.issued_paths(username)
        issued.write(cert, key)
        out |= {
            "kind": "cert",
            "cert": str(cert),
            "key": str(key),
            "ca": str(layout.ca_dir / "ca.pem"),
        }
        out["serial"] = f"{issued.serial:x}"
    else:
        password = store.add_password(
            username, role="device", tenant=tenant, device_id=device_id, replace=rotate
        )
        out |= {"kind": "password", "password": password}
    out["broker_config"] = _regenerated(layout)
    emit(out, as_json, f"provisioned {username}")
    if not as_json and not use_cert:
        click.echo("the password is not stored: give it to the device now", err=True)


@click.command("revoke")
@data_dir_option
@click.option("--tenant", required=True, help="The device's tenant.")
@click.argument("device_id")
@json_option
def revoke_cmd(data_dir: Path | None, tenant: str, device_id: str, as_json: bool) -> None:
    """Take back DEVICE_ID's credentials: its password hash is removed, or its certificate
    goes on the CA's revocation list. The broker configuration is regenerated.

    \b
    Examples:
      binhai device revoke --tenant acme dev-001
      binhai device revoke --tenant acme dev-002 --json
    """
    from binhai._security import IdentityStore, device_username

    layout = layout_of(data_dir)
    ident = IdentityStore(layout).revoke(device_username(tenant, device_id))
    out: dict[str, Any] = {"username": ident.username, "kind": ident.kind}
    if ident.serial:
        out["revoked_serial"] = f"{ident.serial:x}"
    out["broker_config"] = _regenerated(layout)
    emit(out, as_json, f"revoked {ident.username}")


@click.command("provision-fleet")
@data_dir_option
@click.option("--tenant", required=True, help="The fleet's tenant.")
@click.option("--devices", default=20, show_default=True, help="Simulated devices.")
@click.option(
    "--id-offset", default=0, show_default=True, help="First device number (as 'sim run')."
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Write the passwords here (JSON, 0600) for 'binhai sim run --credentials'.",
)
@click.option("--rotate", is_flag=True, help="Replace existing credentials.")
@json_option
def provision_fleet_cmd(
    data_dir: Path | None,
    tenant: str,
    devices: int,
    id_offset: int,
    out: Path,
    rotate: bool,
    as_json: bool,
) -> None:
    """Give every device of a simulated fleet (the ids 'binhai sim run' uses) a password, in
    one step; the passwords go to OUT (0600), not to the terminal. Regenerates the broker
    configuration.

    
    Examples:
      binhai device provision-fleet --tenant acme --devices 50 --out fleet.json
      binhai sim run --tenant acme --devices 50 --credentials fleet.json
    """
    import json

    from binhai._security import IdentityStore, write_private
    from firmware_sim import FleetConfig, device_ids

    if devices < 1:
        raise click.BadParameter("at least 1", param_hint="--devices")
    layout = layout_of(data_dir)
    ids = device_ids(FleetConfig(devices=devices, tenant=tenant, id_offset=id_offset))
    creds = IdentityStore(layout).add_devices(tenant, ids, replace=rotate)
    doc = {
        "tenant": tenant,
        "devices": {d: {"username": u, "password": p} for d, (u, p) in creds.items()},
    }
    write_private(out, (json.dumps(doc, indent=1) + "\n").encode())
    summary = {
        "tenant": tenant,
        "devices": len(creds),
        "first": ids[0],
        "last": ids[-1],
        "credentials": str(out),
        "broker_config": _regenerated(layout),
    }
    emit(summary, as_json, f"provisioned {len(creds)} devices")


@click.group("device")
def command() -> None:
    """Devices: identities on the broker.

    \b
    Examples:
      binhai device provision --tenant acme dev-001
      binhai device revoke --tenant acme dev-001
      binhai device provision-fleet --tenant acme --devices 50 --out fleet.json
    """


command.add_command(provision_cmd)
command.add_command(revoke_cmd)
command.add_command(provision_fleet_cmd)
