"""``binhai bridge``: MQTT -> core ingest as a service."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from binhai.cli._logging import status
from binhai.cli._options import (
    core_auth,
    core_auth_options,
    core_option,
    mqtt_option,
    run_async,
    settle_heap,
    write_ready,
)


def _limits(rates: dict[str, float | None], what: str) -> Any:
    from broker_bridge import Limit, TenantLimits

    try:
        return TenantLimits(**{k: Limit(float(v)) for k, v in rates.items() if v is not None})
    except (TypeError, ValueError) as exc:
        raise click.BadParameter(f"{what}: {exc}") from exc


def parse_quotas(default: dict[str, float | None], tenant_quotas: tuple[str, ...]) -> Any:
    """The :class:`broker_bridge.QuotaConfig` of the command-line limits."""
    from broker_bridge import QuotaConfig

    tenants = {}
    for spec in tenant_quotas:
        tenant, sep, body = spec.partition(":")
        rates: dict[str, float | None] = {}
        for item in body.split(",") if sep else ():
            key, eq, value = item.partition("=")
            if not eq or key.strip() not in default:
                raise click.BadParameter(
                    f"{spec!r}: expected TENANT:KEY=RATE,... with keys {', '.join(default)}",
                    param_hint="--tenant-quota",
                )
            try:
                rates[key.strip()] = float(value)
            except ValueError:
                raise click.BadParameter(f"{spec!r}: {value!r} is not a rate") from None
        if not tenant or not rates:
            raise click.BadParameter(f"{spec!r}: expected TENANT:KEY=RATE,...")
        import protos

        try:
            protos.check_id(tenant, "tenant")
        except protos.TopicError as exc:
            raise click.BadParameter(str(exc), param_hint="--tenant-quota") from None
        tenants[tenant] = _limits(rates, spec)
    return QuotaConfig(_limits(default, "rate limits"), tenants)


@click.group("bridge")
def command() -> None:
    """The broker bridge: moves device batches from MQTT to the core.

    \b
    Examples:
      binhai bridge run --mqtt-url mqtt://127.0.0.1:1883 --core-addr 127.0.0.1:50051
      binhai bridge run --help
    """


@command.command("run")
@mqtt_option
@core_option
@core_auth_options
@click.option("--client-id", default=None, help="MQTT client id; keep it stable across restarts.")
@click.option(
    "--share-group",
    default="bridge",
    show_default=True,
    help="MQTT 5 shared-subscription group; bridges in one group split the load.",
)
@click.option(
    "--tenant", default="+", show_default=True, help="Only this tenant's devices ('+' for all)."
)
@click.option(
    "--max-inflight",
    default=1000,
    show_default=True,
    help="Messages taken from the broker but not yet acked (backpressure bound).",
)
@click.option(
    "--max-payload", default=1 << 20, show_default=True, help="Larger payloads are dead-lettered."
)
@click.option(
    "--metrics-listen", default=None, help="Prometheus metrics address, e.g. :9465 or 0.0.0.0:9465."
)
@click.option(
    "--stored-confirmations/--no-stored-confirmations",
    default=True,
    show_default=True,
    help="Confirm committed batches to devices (end-to-end ack). Turn off only while devices"
    " run an SDK older than the confirmations (it would answer each with a NACK).",
)
@click.option(
    "--stored-delay",
    default=0.25,
    show_default=True,
    help="Seconds a device's confirmations are coalesced before they are published.",
)
@click.option(
    "--max-core-crashes",
    default=3,
    show_default=True,
    help="A message in flight at this many core failures is dead-lettered, not resent.",
)
@click.option(
    "--device-msgs-per-s",
    type=float,
    default=None,
    help="Rate limit per device (burst: one second's worth); over it -> dead letter"
    " 'rate_limited'. Default: none.",
)
@click.option("--device-bytes-per-s", type=float, default=None, help="Payload bytes/s per device.")
@click.option("--tenant-msgs-per-s", type=float, default=None, help="Messages/s per tenant.")
@click.option("--tenant-bytes-per-s", type=float, default=None, help="Payload bytes/s per tenant.")
@click.option(
    "--tenant-quota",
    multiple=True,
    metavar="TENANT:KEY=RATE,...",
    help="Limits for one tenant instead of the ones above (repeat), keys device_msgs,"
    " device_bytes, tenant_msgs, tenant_bytes; e.g. acme:device_msgs=50,tenant_bytes=1e6.",
)
@click.option("--tls-ca", default=None, help="CA file for mqtts://.")
@click.option("--tls-cert", default=None, help="Client certificate for mqtts://.")
@click.option("--tls-key", default=None, help="Client key for mqtts://.")
@click.option(
    "--ready-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write 'ready' here once subscribed (for supervisors and tests).",
)
def run_cmd(
    mqtt_url: str,
    core_addr: str,
    client_id: str | None,
    share_group: str,
    tenant: str,
    max_inflight: int,
    max_payload: int,
    metrics_listen: str | None,
    stored_confirmations: bool,
    stored_delay: float,
    max_core_crashes: int,
    device_msgs_per_s: float | None,
    device_bytes_per_s: float | None,
    tenant_msgs_per_s: float | None,
    tenant_bytes_per_s: float | None,
    tenant_quota: tuple[str, ...],
    tls_ca: str | None,
    tls_cert: str | None,
    tls_key: str | None,
    ready_file: Path | None,
) -> None:
    """Subscribe to every device's uplink and forward it to the core until SIGTERM.

    Each MQTT message is acknowledged only after the core has committed it, and each committed
    batch is confirmed to its device on its down topic (the device keeps it until then). Exits
    non-zero with the reason when a background task keeps failing.

    \b
    Examples:
      binhai bridge run --mqtt-url mqtt://127.0.0.1:1883 --core-addr 127.0.0.1:50051
      binhai bridge run --core-addr core-a:50051,core-b:50051 --client-id bridge-1
      binhai bridge run --device-msgs-per-s 20 --tenant-quota acme:tenant_msgs=5000
      BINHAI_TOKEN=... binhai bridge run --core-ca ca.pem --mqtt-url mqtts://bridge-1:...@host
    """
    from broker_bridge import BridgeConfig, TlsFiles, run_bridge

    cfg = BridgeConfig(
        mqtt_url=mqtt_url,
        core_addrs=tuple(a.strip() for a in core_addr.split(",") if a.strip()),
        share_group=share_group,
        tenant=tenant,
        max_inflight=max_inflight,
        max_payload=max_payload,
        metrics_listen=metrics_listen,
        stored_confirmations=stored_confirmations,
        stored_delay=stored_delay,
        max_core_crashes=max_core_crashes,
        tls=TlsFiles(tls_ca, tls_cert, tls_key) if (tls_ca or tls_cert) else None,
        core_auth=core_auth(),
        quotas=parse_quotas(
            {
                "device_msgs": device_msgs_per_s,
                "device_bytes": device_bytes_per_s,
                "tenant_msgs": tenant_msgs_per_s,
                "tenant_bytes": tenant_bytes_per_s,
            },
            tenant_quota,
        ),
    )
    if client_id:
        cfg = replace(cfg, client_id=client_id)

    def ready() -> None:
        settle_heap()
        status("bridge subscribed")
        if ready_file is not None:
            write_ready(ready_file, "ready")

    run_async(run_bridge(cfg, on_ready=ready))
