"""``binhai query``: the core's Query service from the command line (gRPC)."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any

import click

from binhai.cli._options import call_core, core_auth_options, core_option, json_option, run_async

__all__ = ["command"]

_SOURCES = {"any": 0, "device": 1, "cloud": 2}


def parse_time(text: str) -> int:
    """``now``, a relative age (``-15m``, ``-2h``, ``-7d``), ISO 8601 or ns since the epoch."""
    from cloud_core import parse_age

    text = text.strip()
    if text == "now":
        return time.time_ns()
    if text.startswith("-"):
        return time.time_ns() - int(parse_age(text[1:]).total_seconds() * 1e9)
    if text.isdigit():
        return int(text)
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected now, -15m, ISO 8601 or ns") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return int(t.timestamp() * 1e6) * 1000


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, timezone.utc).isoformat() if ns else "-"


async def _call(addr: str, method: str, request: Any) -> Any:
    from protos.binhai.v1 import query_pb2_grpc

    return await call_core(addr, query_pb2_grpc.QueryStub, method, request)


def _as_dict(msg: Any) -> dict[str, Any]:
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(
        msg, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def _emit(data: dict[str, Any], as_json: bool, title: str) -> None:
    if as_json:
        click.echo(json.dumps(data))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_header=False)
    for key, value in data.items():
        if isinstance(value, (list, dict)):
            value = json.dumps(value)
        table.add_row(key, str(value))
    Console().print(table)


@click.group("query")
def command() -> None:
    """Query the core: feature series, fleet summary, device detail, raw windows, alerts.

    \b
    Examples:
      binhai query fleet --tenant acme
      binhai query device --tenant acme dev-001 --json
      binhai query series --tenant acme dev-001 accel std --start -1h --bucket 60
      binhai query alerts --tenant acme --since 1h
    """


@command.command("series")
@core_option
@core_auth_options
@click.option("--tenant", required=True, help="Tenant id.")
@click.argument("device_id")
@click.argument("sensor")
@click.argument("feature")
@click.option("--channel", default=0, show_default=True, help="Channel of the sensor.")
@click.option("--start", default="-1h", show_default=True, help="now, -15m, ISO 8601 or ns.")
@click.option("--end", default="now", show_default=True, help="now, -15m, ISO 8601 or ns.")
@click.option(
    "--bucket",
    "bucket_s",
    default=0,
    show_default=True,
    help="Bucket width in seconds (0: one point per window). Multiples of 60 / 3600 read the "
    "1 min / 1 h rollups.",
)
@click.option(
    "--source",
    type=click.Choice(sorted(_SOURCES)),
    default="any",
    show_default=True,
    help="Only features computed on the device, or by the core from raw windows.",
)
@json_option
def series_cmd(
    core_addr: str,
    tenant: str,
    device_id: str,
    sensor: str,
    feature: str,
    channel: int,
    start: str,
    end: str,
    bucket_s: int,
    source: str,
    as_json: bool,
) -> None:
    """A feature's series for one device: per window, or mean/min/max per bucket.

    \b
    Examples:
      binhai query series --tenant acme dev-001 accel rms --start -15m
      binhai query series --tenant acme dev-001 accel std --start -1d --bucket 3600 --json
      binhai query series --tenant acme dev-001 imu dominant_freq --channel 2 --source cloud
    """
    from protos.binhai.v1 import query_pb2 as q

    req = q.SeriesRequest(
        tenant=tenant,
        device_id=device_id,
        sensor=sensor,
        feature=feature,
        channel=channel,
        start_ns=parse_time(start),
        end_ns=parse_time(end),
        bucket_s=bucket_s,
        source=_SOURCES[source],  # type: ignore[arg-type]
    )
    reply = run_async(_call(core_addr, "Series", req))
    if as_json:
        click.echo(json.dumps(_as_dict(reply)))
        return
    click.echo(f"# {feature}[{channel}] of {device_id}/{sensor} from {reply.resolution}")
    for i, (t, v) in enumerate(zip(reply.t_ns, reply.values, strict=True)):
        extra = ""
        if reply.counts:
            extra = f"  min={reply.mins[i]:.6g} max={reply.maxs[i]:.6g} n={reply.counts[i]}"
        click.echo(f"{_iso(t)}  {v:.6g}{extra}")


@command.command("fleet")
@core_option
@core_auth_options
@click.option("--tenant", default="", help="Only this tenant (default: all).")
@click.option(
    "--novelty-threshold", default=3.0, show_default=True, help="Anomaly: novelty above this."
)
@click.option(
    "--online-window",
    default=120,
    show_default=True,
    help="Seconds since the last batch that count as online when presence is unknown.",
)
@json_option
def fleet_cmd(
    core_addr: str, tenant: str, novelty_threshold: float, online_window: int, as_json: bool
) -> None:
    """Devices online/total, ingest rate (last minute), anomalies (last hour).

    \b
    Examples:
      binhai query fleet --tenant acme
      binhai query fleet --novelty-threshold 5 --json | jq .anomalies_last_hour
    """
    from protos.binhai.v1 import query_pb2 as q

    req = q.FleetRequest(
        tenant=tenant, novelty_threshold=novelty_threshold, online_window_s=online_window
    )
    reply = run_async(_call(core_addr, "Fleet", req))
    _emit(_as_dict(reply), as_json, f"fleet {tenant or '(all tenants)'}")


@command.command("device")
@core_option
@core_auth_options
@click.option("--tenant", required=True, help="Tenant id.")
@click.argument("device_id")
@click.option("--online-window", default=120, show_default=True, help="As for `fleet`.")
@json_option
def device_cmd(
    core_addr: str, tenant: str, device_id: str, online_window: int, as_json: bool
) -> None:
    """One device: last seen, online, seq gaps (explained/unexplained), latest health
    (outbox and eviction counters), conformance and commands.

    \b
    Examples:
      binhai query device --tenant acme dev-001
      binhai query device --tenant acme dev-001 --json | jq .health.outbox_depth
    """
    from protos.binhai.v1 import query_pb2 as q

    req = q.DeviceRequest(tenant=tenant, device_id=device_id, online_window_s=online_window)
    reply = run_async(_call(core_addr, "Device", req))
    if not reply.found:
        raise click.ClickException(f"no device {device_id!r} in tenant {tenant!r}")
    data = _as_dict(reply)
    if not as_json:
        for key in ("first_seen_ns", "last_seen_ns", "health_received_ns"):
            data[key.removesuffix("_ns")] = _iso(int(data.pop(key)))
    _emit(data, as_json, f"{tenant}/{device_id}")


@command.command("raw")
@core_option
@core_auth_options
@click.option("--tenant", required=True, help="Tenant id.")
@click.argument("device_id")
@click.argument("seq", type=int)
@click.argument("idx", type=int, default=0)
@json_option
def raw_cmd(core_addr: str, tenant: str, device_id: str, seq: int, idx: int, as_json: bool) -> None:
    """Window IDX of batch SEQ with its raw samples decoded (channel-major).

    \b
    Examples:
      binhai query raw --tenant acme dev-001 42 0
      binhai query raw --tenant acme dev-001 42 1 --json | jq '.samples | length'
    """
    from protos.binhai.v1 import query_pb2 as q

    req = q.RawWindowRequest(tenant=tenant, device_id=device_id, seq=seq, idx=idx)
    reply = run_async(_call(core_addr, "RawWindow", req))
    if as_json:
        click.echo(json.dumps(_as_dict(reply)))
        return
    click.echo(
        f"{reply.sensor} t0={_iso(reply.t0_ns)} {reply.channels}x{reply.n_samples}"
        f" @ {reply.rate_hz:g} Hz, {reply.stored_bytes} bytes stored, novelty {reply.novelty:.3g}"
    )
    n = reply.n_samples
    for c in range(reply.channels if reply.samples else 0):
        row = reply.samples[c * n : (c + 1) * n]
        click.echo(f"ch{c}: " + " ".join(f"{v:.5g}" for v in row))


@command.command("conformance")
@core_option
@core_auth_options
@click.option("--tenant", required=True, help="Tenant id.")
@click.argument("device_id", default="")
@json_option
def conformance_cmd(core_addr: str, tenant: str, device_id: str, as_json: bool) -> None:
    """Device vs cloud features on BOTH windows: checked, mismatches, skipped per algo_version.

    \b
    Examples:
      binhai query conformance --tenant acme
      binhai query conformance --tenant acme dev-001 --json
    """
    from protos.binhai.v1 import query_pb2 as q

    req = q.ConformanceRequest(tenant=tenant, device_id=device_id)
    reply = run_async(_call(core_addr, "Conformance", req))
    rows = _as_dict(reply).get("rows", [])
    if as_json:
        click.echo(json.dumps({"rows": rows}))
        return
    for r in rows:
        click.echo(
            f"{r['device_id']} v{r['algo_version']}: checked={r['checked']}"
            f" mismatches={r['mismatches']} skipped={r['skipped']} {r['last_mismatch']}"
        )


def _since(text: str | None) -> int:
    """``--since``: an age (``15m``, ``2h``, ``7d``) before now, as ns since the epoch; 0 when
    not given."""
    from cloud_core import parse_age

    if not text:
        return 0
    try:
        return time.time_ns() - int(parse_age(text).total_seconds() * 1e9)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None


@command.command("alerts")
@core_option
@core_auth_options
@click.option("--tenant", default="", help="Only this tenant (default: all).")
@click.option("--device", "device_id", default="", help="Only this device (default: all).")
@click.option(
    "--since", default=None, help="Only alerts still running within this age: 15m, 2h, 7d."
)
@click.option(
    "--limit",
    type=click.IntRange(1, 10_000),
    default=100,
    show_default=True,
    help="Newest alerts (by start) at most.",
)
@json_option
def alerts_cmd(
    core_addr: str, tenant: str, device_id: str, since: str | None, limit: int, as_json: bool
) -> None:
    """Alerts: episodes of windows the core judged anomalous, one per device and sensor, newest
    first, with kind, start, end, score and windows.

    \b
    Examples:
      binhai query alerts --tenant acme --since 1h
      binhai query alerts --tenant acme --device dev-001 --limit 10
      binhai query alerts --since 1d --json | jq '.alerts[] | select(.kind == "fall")'
    """
    from protos.binhai.v1 import query_pb2 as q

    req = q.AlertsRequest(tenant=tenant, device_id=device_id, start_ns=_since(since), limit=limit)
    reply = run_async(_call(core_addr, "Alerts", req))
    if as_json:
        click.echo(json.dumps({"alerts": _as_dict(reply).get("alerts", [])}))
        return
    if not reply.alerts:
        click.echo("no alerts")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"alerts {tenant or '(all tenants)'}")
    for col in ("start", "device", "sensor", "kind", "seconds", "windows", "raw", "score"):
        table.add_column(col)
    for a in reply.alerts:
        table.add_row(
            _iso(a.start_ns),
            a.device_id if tenant else f"{a.tenant}/{a.device_id}",
            a.sensor,
            a.kind or "-",
            f"{(a.end_ns - a.start_ns) / 1e9:.1f}",
            str(a.windows),
            str(a.raw_windows),
            f"{a.score:.3g}",
        )
    Console().print(table)
