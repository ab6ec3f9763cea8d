"""``binhai ca``: the deployment's certificate authority."""

from __future__ import annotations

from pathlib import Path

import click

from binhai.cli._options import data_dir_option, emit, json_option, layout_of


@click.group("ca")
def command() -> None:
    """The deployment's certificate authority (under DATA_DIR/security/ca, key 0600).

    \b
    Examples:
      binhai ca init --data-dir /var/lib/binhai
      binhai ca issue core --server-host core.example --server-host 10.0.0.5
    """


@command.command("init")
@data_dir_option
@click.option("--name", default="binhai CA", show_default=True, help="The CA's common name.")
@click.option("--days", default=3650, show_default=True, help="Validity of the CA certificate.")
@json_option
def init_cmd(data_dir: Path | None, name: str, days: int, as_json: bool) -> None:
    """Create the CA: an ECDSA P-256 key (0600), its self-signed certificate and an empty CRL.

    Refuses to replace an existing CA (every issued certificate depends on it).

    \b
    Examples:
      binhai ca init
      binhai ca init --data-dir /var/lib/binhai --name "acme telemetry CA" --json
    """
    from binhai._security import CertAuthority

    layout = layout_of(data_dir)
    ca = CertAuthority(layout.ca_dir)
    cert = ca.init(name=name, days=days)
    emit(
        {
            "ca_cert": str(ca.cert_path),
            "ca_key": str(ca.key_path),
            "crl": str(ca.crl_path),
            "not_after": cert.not_valid_after_utc.isoformat(),
        },
        as_json,
        "CA created",
    )


@command.command("issue")
@data_dir_option
@click.argument("name")
@click.option(
    "--server-host",
    "hosts",
    multiple=True,
    help="Host name or IP the server is reached by (repeat); makes a server certificate.",
)
@click.option("--days", default=825, show_default=True, help="Validity in days.")
@json_option
def issue_cmd(
    data_dir: Path | None, name: str, hosts: tuple[str, ...], days: int, as_json: bool
) -> None:
    """Issue a certificate NAME signed by the CA (a server certificate with --server-host,
    else a client one), written to DATA_DIR/security/issued/NAME.pem and .key (0600).

    \b
    Examples:
      binhai ca issue core --server-host localhost --server-host 127.0.0.1
      binhai ca issue ops-laptop --json
    """
    from binhai._security import CertAuthority

    layout = layout_of(data_dir)
    if not name or "/" in name or name.startswith("."):
        raise click.BadParameter("a plain name without '/'", param_hint="NAME")
    issued = CertAuthority(layout.ca_dir).issue(name, server_hosts=hosts, days=days)
    cert, key = layout.issued_paths(name)
    issued.write(cert, key)
    emit(
        {
            "cert": str(cert),
            "key": str(key),
            "serial": f"{issued.serial:x}",
            "not_after": issued.not_after.isoformat(),
        },
        as_json,
        f"certificate {name}",
    )
