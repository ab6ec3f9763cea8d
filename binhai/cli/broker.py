"""``binhai broker``: a mosquitto configuration that authenticates and confines every client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from binhai.cli._options import data_dir_option, emit, json_option, layout_of


@click.group("broker")
def command() -> None:
    """The MQTT broker's security: generated mosquitto configuration and bridge identities.

    \b
    Examples:
      binhai broker bridge-user bridge-1
      binhai broker config --listen 0.0.0.0:8883 --tls --host broker.example
      mosquitto -c ~/.local/share/binhai/security/broker/mosquitto.conf
    """


@command.command("config")
@data_dir_option
@click.option(
    "--listen", default="127.0.0.1:1883", show_default=True, help="Password listener host:port."
)
@click.option("--tls", is_flag=True, help="TLS on that listener (server certificate from the CA).")
@click.option(
    "--mtls-listen",
    default=None,
    help="Also a mutual-TLS listener host:port for certificate identities (CRL checked).",
)
@click.option(
    "--host",
    "hosts",
    multiple=True,
    help="Name or IP devices reach the broker by, for its certificate (repeat)"
    " [default: localhost, 127.0.0.1].",
)
@json_option
def config_cmd(
    data_dir: Path | None,
    listen: str,
    tls: bool,
    mtls_listen: str | None,
    hosts: tuple[str, ...],
    as_json: bool,
) -> None:
    """Write mosquitto.conf, the password file and the ACL under DATA_DIR/security/broker.

    Anonymous clients are refused; a device may publish only to its own .../up and .../status
    and subscribe only to its own .../down; bridges read every up/status and write every down.
    Provisioning and revoking regenerate these files with the same options.

    \b
    Examples:
      binhai broker config
      binhai broker config --listen 0.0.0.0:8883 --tls --host broker.example
      binhai broker config --mtls-listen 0.0.0.0:8884 --json
    """
    from binhai._security import DEFAULT_HOSTS, BrokerOptions, write_broker_config

    opts = BrokerOptions(
        listen=listen,
        tls=tls,
        mtls_listen=mtls_listen,
        hosts=hosts or DEFAULT_HOSTS,
    )
    files = write_broker_config(layout_of(data_dir), opts)
    if files.bridges == 0 and not as_json:
        click.echo("warning: no bridge identity yet ('binhai broker bridge-user NAME')", err=True)
    emit(
        {
            "config": str(files.config),
            "password_file": str(files.passwd),
            "acl_file": str(files.acl),
            "devices": files.devices,
            "bridges": files.bridges,
        },
        as_json,
        "broker configuration",
    )


@command.command("bridge-user")
@data_dir_option
@click.argument("name")
@click.option(
    "--tenant", default=None, help="Only this tenant's topics (run the bridge with --tenant too)."
)
@click.option(
    "--cert", "use_cert", is_flag=True, help="A client certificate instead of a password."
)
@click.option(
    "--rotate", is_flag=True, help="Replace existing credentials (old ones stop working)."
)
@json_option
def bridge_user_cmd(
    data_dir: Path | None,
    name: str,
    tenant: str | None,
    use_cert: bool,
    rotate: bool,
    as_json: bool,
) -> None:
    """Give bridge NAME an identity on the broker (read every up/status, write every down —
    of one tenant with --tenant): a random password, shown once, or a client certificate.
    Regenerates the broker config.

    \b
    Examples:
      binhai broker bridge-user bridge-1
      binhai broker bridge-user bridge-1 --rotate --json
      binhai broker bridge-user acme-bridge --tenant acme
    """
    from binhai._security import IdentityStore, regenerate

    if not name or "/" in name or ":" in name or name.startswith("."):
        raise click.BadParameter("a plain name without '/' or ':'", param_hint="NAME")
    if tenant is not None:
        import protos

        protos.check_id(tenant, "tenant")
    layout = layout_of(data_dir)
    store = IdentityStore(layout)
    out: dict[str, Any] = {"username": name}
    if use_cert:
        issued = store.add_cert(name, role="bridge", tenant=tenant or "", replace=rotate)
        cert, key = layout.issued_paths(name)
        issued.write(cert, key)
        out |= {"kind": "cert", "cert": str(cert), "key": str(key)}
    else:
        out |= {
            "kind": "password",
            "password": store.add_password(
                name, role="bridge", tenant=tenant or "", replace=rotate
            ),
        }
    files = regenerate(layout)
    out["broker_config"] = str(files.config) if files else ""
    emit(out, as_json, f"bridge identity {name}")
