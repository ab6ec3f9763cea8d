"""``binhai up``: the embedded default — everything on this machine, one command."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any, Literal

import click

from binhai.cli._logging import status
from binhai.cli._options import emit, json_option

SUMMARY_KEYS = ("devices", "batches_sent", "batches_stored", "samples_stored", "duplicates", "lost")
CHAOS_KEYS = ("evicted", "gaps_unexplained", "faults")


def _secure(auth: bool | None, mqtt_url: str | None, broker_prefer: str) -> bool:
    """Whether the stack runs with authentication: ``--auth/--no-auth``, by default when the
    broker is an embedded mosquitto (the in-process amqtt has no ACLs)."""
    from binhai._embedded import find_mosquitto

    own_mosquitto = mqtt_url is None and broker_prefer != "amqtt" and find_mosquitto() is not None
    if auth and not own_mosquitto:
        raise click.UsageError("--auth needs the embedded broker to be mosquitto (installed)")
    return own_mosquitto if auth is None else auth


@click.command("up")
@click.option(
    "--serve",
    is_flag=True,
    help="Keep the stack running on a durable --workdir until Ctrl-C, SIGTERM or `binhai down`;"
    " print its endpoints and an example device script.",
)
@click.option(
    "--devices",
    type=int,
    default=None,
    help="Simulated devices [default: 20; with --serve 0, i.e. no simulated fleet].",
)
@click.option("--duration", default=15.0, show_default=True, help="Seconds to stream.")
@click.option(
    "--dsn",
    envvar="BINHAI_DSN",
    default=None,
    help="Use this PostgreSQL instead of an embedded one.",
)
@click.option(
    "--mqtt-url",
    envvar="BINHAI_MQTT_URL",
    default=None,
    help="Use this broker instead of an embedded one.",
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where services keep data and logs [default: a temporary directory; with --serve the"
    " global --workdir / BINHAI_WORKDIR, else $XDG_DATA_HOME/binhai or ~/.local/share/binhai].",
)
@click.option("--speed", default=1.0, show_default=True, help="Simulated seconds per wall second.")
@click.option(
    "--broker",
    "broker_prefer",
    type=click.Choice(["auto", "mosquitto", "amqtt"]),
    default="auto",
    show_default=True,
    help="Embedded broker: mosquitto when installed (auto), or the in-process amqtt.",
)
@click.option("--keep", is_flag=True, help="Keep the work directory (logs, data) afterwards.")
@click.option(
    "--auth/--no-auth",
    default=None,
    help="Authentication: each simulated device and the bridge with their own broker identity"
    " (anonymous refused, devices confined to their topics), the core with tokens. Default: on"
    " when the broker is an embedded mosquitto. With --serve the credentials persist in the"
    " work directory's data/ and a restart reuses them.",
)
@click.option(
    "--chaos",
    is_flag=True,
    help="Two cores and two bridges, and while the fleet streams: the broker SIGKILLed three"
    " times (when embedded), a bridge and a core SIGKILLed, the database's connections cut."
    " The audit must still find nothing lost or duplicated and every gap explained. With --dsn,"
    " every connection to that database is cut: never point it at a database others use.",
)
@json_option
def command(
    serve: bool,
    devices: int | None,
    duration: float,
    dsn: str | None,
    mqtt_url: str | None,
    workdir: Path | None,
    speed: float,
    broker_prefer: Literal["auto", "mosquitto", "amqtt"],
    keep: bool,
    auth: bool | None,
    chaos: bool,
    as_json: bool,
) -> None:
    """Start a broker, PostgreSQL, the core, a bridge and a simulated fleet; report the result.

    The broker is mosquitto when installed, else an in-process one; PostgreSQL is the embedded
    wheel unless --dsn is given. Exits 0 only if no batch was lost.

    \b
    Examples:
      binhai up --devices 20 --duration 15
      binhai up --devices 100 --duration 60 --dsn postgresql://127.0.0.1:5432/binhai --json
      binhai up --chaos --devices 20 --duration 60
      binhai up --no-auth --keep --workdir /tmp/up
      binhai up --serve                       # until Ctrl-C; data in ~/.local/share/binhai
      binhai up --serve --devices 10 --workdir ./stack --json

    With --serve the stack stays up and a restart on the same work directory finds its data
    again; --duration and --chaos do not apply. `binhai down` stops it, and every other command
    (query, db, device, policy, doctor) finds its endpoints, and with authentication its
    operator token, by itself.
    """
    log_format = click.get_current_context().find_root().params.get("log_format", "text")
    children = ("--log-format", log_format)  # the services log as this command does
    secure = _secure(auth, mqtt_url, broker_prefer)
    if serve:
        from binhai.cli._serve import run_serve

        if chaos:
            raise click.UsageError("--chaos cannot be combined with --serve")
        run_serve(
            workdir=workdir,
            devices=devices or 0,
            speed=speed,
            broker_prefer=broker_prefer,
            dsn=dsn,
            mqtt_url=mqtt_url,
            as_json=as_json,
            global_args=children,
            secure=secure,
        )
        return
    devices = 20 if devices is None else devices
    from binhai._audit import wait_stored
    from binhai._chaos import gaps_unexplained, report_chaos, start_chaos
    from binhai._stack import Stack
    from binhai.cli._progress import fleet_progress
    from firmware_sim import Fleet, FleetConfig, device_ids

    tmp = workdir is None
    root = Path(tempfile.mkdtemp(prefix="binhai-up-")) if workdir is None else workdir
    try:
        status(f"starting services in {root} ...", workdir=str(root))
        n = 2 if chaos else 1
        with Stack(
            root,
            dsn=dsn,
            mqtt_url=mqtt_url,
            broker_prefer=broker_prefer,
            cores=n,
            bridges=n,
            secure=secure,
            global_args=children,
        ) as stack:
            assert stack.dsn is not None and stack.mqtt_url is not None
            broker = stack.broker.kind if stack.broker else stack.mqtt_url
            db = "embedded PostgreSQL" if stack.postgres else "--dsn"
            status(f"broker: {broker}; database: {db}; core {stack.core_addrs[0]}")
            if stack.security is not None:
                where = stack.security.layout.root
                note = "" if keep or not tmp else " (removed at exit; --keep keeps them)"
                status(f"authentication on; credentials in {where}{note}")
            else:
                status("authentication off")
            tenant = f"up-{uuid.uuid4().hex[:8]}"
            fleet_config = FleetConfig(
                devices=devices,
                duration_s=duration,
                tenant=tenant,
                broker_url=stack.mqtt_url,
                data_dir=root / "devices",
                speed=speed,
            )
            creds = stack.provision_devices(tenant, device_ids(fleet_config))
            fleet = Fleet(fleet_config, credentials=creds.__getitem__ if creds else None)
            faults = start_chaos(stack, duration / speed) if chaos else None
            with fleet_progress(duration, devices) as progress:
                report = fleet.run(progress=progress)
            result = wait_stored(stack.dsn, tenant, report.seq_ranges, timeout=60)
            extra: dict[str, Any] = {}
            if faults is not None:
                lines = report_chaos(faults)
                extra["faults"] = lines if as_json else "\n".join(lines)
                extra["gaps_unexplained"] = gaps_unexplained(stack.dsn, tenant)
    finally:
        if tmp and not keep:
            shutil.rmtree(root, ignore_errors=True)
    summary: dict[str, Any] = {"devices": report.devices, **result, **extra}
    keys = (*SUMMARY_KEYS, *CHAOS_KEYS) if chaos else SUMMARY_KEYS
    summary = {k: summary[k] for k in keys}
    emit(summary, as_json, "binhai up --chaos" if chaos else "binhai up")
    if summary["lost"] != 0:
        raise click.ClickException(f"{summary['lost']} batches lost")
    if chaos and (summary["duplicates"] or summary["gaps_unexplained"]):
        raise click.ClickException("duplicates or unexplained gaps after the faults")
