"""``binhai device command``: send a device a command through the core and show its answer.

The core stores the command and hands it to a bridge, which publishes it on the device's down
topic (QoS1); the device answers with a CommandAck inside its next batch, and the core records
it on the stored command. So: sent over gRPC (Control.SendCommand), answer read from the
database. A device that is offline gets it from the broker when it reconnects (its session is
persistent): the command says "queued, device offline" and does not wait.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import click

from binhai.cli._options import (
    call_core,
    core_auth_options,
    core_option,
    dsn_option,
    json_option,
    run_async,
)
from binhai.cli.device import online_window_option, resolve_tenant, tenant_option

__all__ = ["command"]

KINDS = ("flush", "send-raw", "reset-counters")
_POLL_S = 0.2


def build_command(kind: str, sensor: str, start_ns: int, end_ns: int) -> Any:
    import protos

    if kind == "flush":
        return protos.Command(flush=protos.FlushNow())
    if kind == "reset-counters":
        return protos.Command(reset_counters=protos.ResetCounters())
    return protos.Command(send_raw=protos.SendRaw(sensor=sensor, start_ns=start_ns, end_ns=end_ns))


async def _send(core_addr: str, tenant: str, device_id: str, cmd: Any) -> Any:
    import protos

    req = protos.SendCommandRequest(tenant=tenant, device_id=device_id, command=cmd)
    return await call_core(core_addr, protos.control_pb2_grpc.ControlStub, "SendCommand", req)


@click.command("command")
@click.argument("device_id")
@click.argument("kind", type=click.Choice(KINDS))
@core_option
@core_auth_options
@dsn_option()
@tenant_option
@click.option("--sensor", default="", help="send-raw: the sensor (default: every sensor).")
@click.option("--start", default="-5m", show_default=True, help="send-raw: now, -15m, ISO, ns.")
@click.option("--end", default="now", show_default=True, help="send-raw: now, -15m, ISO, ns.")
@click.option(
    "--timeout", default=30.0, show_default=True, help="Seconds to wait for the device's answer."
)
@online_window_option
@json_option
def command(
    device_id: str,
    kind: str,
    core_addr: str,
    dsn: str,
    tenant: str | None,
    sensor: str,
    start: str,
    end: str,
    timeout: float,
    online_window: int,
    as_json: bool,
) -> None:
    """Send DEVICE a command (flush, send-raw, reset-counters) and show its ACK or NACK.

    flush closes and sends the device's open batch; send-raw asks for the raw windows it still
    holds for [--start, --end); reset-counters zeroes its health counters. Exits 0 on an ACK or
    when the device is offline (the command is queued for it), 1 on a NACK, on no answer within
    --timeout, or when no bridge is connected to the core.

    \b
    Examples:
      binhai device command dev-00003 flush
      binhai device command dev-00003 send-raw --sensor accel --start -2m --json
      binhai device command my-board reset-counters --tenant mine --timeout 60
    """
    import psycopg

    from binhai.cli.query import parse_time
    from cloud_core import command_state, device_list

    start_ns, end_ns = parse_time(start), parse_time(end)
    if kind == "send-raw" and end_ns <= start_ns:
        raise click.BadParameter(f"--end {end!r} is not after --start {start!r}")
    began = time.monotonic()

    async def main() -> dict[str, Any]:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            t = await resolve_tenant(conn, device_id, tenant)
            rows = await device_list(conn, t, device_id=device_id, online_window_s=online_window)
            online = bool(rows and rows[0].online)
            reply = await _send(
                core_addr, t, device_id, build_command(kind, sensor, start_ns, end_ns)
            )
            out: dict[str, Any] = {"id": reply.id, "tenant": t, "device_id": device_id}
            out["command"] = kind
            if reply.bridges == 0:
                return {**out, "status": "undelivered", "reason": "no bridge connected to the core"}
            if not online:
                return {**out, "status": "queued", "reason": "device offline"}
            deadline = began + timeout
            while time.monotonic() < deadline:
                state = await command_state(conn, reply.id)
                if state is not None and state.status in ("ack", "nack"):
                    return {**out, "status": state.status, "reason": state.reason}
                await asyncio.sleep(_POLL_S)
            return {**out, "status": "no_answer", "reason": f"no answer within {timeout:g}s"}

    result = run_async(main())
    result["seconds"] = round(time.monotonic() - began, 2)
    if as_json:
        click.echo(json.dumps(result))
    else:
        click.echo(_line(result))
    if result["status"] not in ("ack", "queued"):
        click.get_current_context().exit(1)


def _line(r: dict[str, Any]) -> str:
    who = f"{r['tenant']}/{r['device_id']} {r['command']}"
    if r["status"] == "ack":
        return f"ACK from {who} after {r['seconds']}s (id {r['id']})"
    if r["status"] == "nack":
        return f"NACK from {who}: {r['reason']} (id {r['id']})"
    if r["status"] == "queued":
        return f"queued, device offline: {who} gets it when it reconnects (id {r['id']})"
    if r["status"] == "undelivered":
        return f"stored, not delivered: {r['reason']} (id {r['id']})"
    return f"sent to {who}, {r['reason']} (id {r['id']})"
