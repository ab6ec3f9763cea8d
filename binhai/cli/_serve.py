"""The ``--serve`` half of ``binhai up``: run the stack, print its endpoints, wait for a signal."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Literal

import click

from binhai._statefile import AlreadyRunning, StackState
from binhai.cli._logging import status
from binhai.cli._workdir import resolve_workdir

__all__ = ["describe", "run_serve"]


def describe(state: StackState, example: str) -> str:
    """The endpoint listing printed once the stack is ready."""
    workdir = Path(state.workdir)
    creds, core = "anonymous, no device credentials", "no authentication"
    if state.auth:
        creds, core = "a password per device, anonymous refused", "bearer tokens"
    elif state.broker == "external":
        creds = "your broker's"
    lines = [
        f"binhai stack running (pid {state.pid}); data in {workdir}",
        f"  MQTT        {state.mqtt_url}   ({state.broker}; {creds})",
        f"  core gRPC   {state.core_addr}   ({core})",
        f"  PostgreSQL  {state.dsn}",
        f"  dashboard   {state.dashboard}",
    ]
    for i, (name, url) in enumerate(state.metrics.items()):
        lines.append(f"  {'metrics' if i == 0 else '':<11} {url}   ({name})")
    lines += [
        f"  logs        {workdir}/*.log",
        f"  state       {workdir / 'stack.json'}",
    ]
    if state.auth:
        security = Path(state.data_dir) / "security"
        lines.append(f"  credentials {security}   (CA, identities, tokens)")
        lines.append(f"  token       {state.token_file}   (operator, 0600; used by commands here)")
        for tenant, path in state.credentials.items():
            lines.append(f"  passwords   {path}   (tenant {tenant}, 0600)")
    if state.fleet_devices:
        fleet = f"{state.fleet_devices} simulated devices, tenant {state.fleet_tenant}"
        lines.append(f"  fleet       {fleet}")
    lines += [
        "",
        f"Stream from a device (saved: {sys.executable} {workdir / 'example_device.py'}):",
        "",
        *(f"    {line}" if line else "" for line in example.splitlines()),
        "",
        "Then: binhai device list | binhai device command my-board flush | binhai doctor"
        " | binhai down (Ctrl-C stops it too)",
    ]
    return "\n".join(lines)


def run_serve(
    *,
    workdir: Path | None,
    devices: int,
    speed: float,
    broker_prefer: Literal["auto", "mosquitto", "amqtt"],
    dsn: str | None,
    mqtt_url: str | None,
    as_json: bool,
    global_args: tuple[str, ...] = (),
    secure: bool = False,
) -> None:
    from binhai._serve import EXAMPLE_NAME, ServeConfig, serve

    root = resolve_workdir(workdir)
    if devices < 0:
        raise click.BadParameter(f"{devices}: must be 0 or more", param_hint="--devices")
    cfg = ServeConfig(
        workdir=root,
        devices=devices,
        speed=speed,
        broker_prefer=broker_prefer,
        dsn=dsn,
        mqtt_url=mqtt_url,
        global_args=global_args,
        secure=secure,
    )

    def ready(state: StackState) -> None:
        if as_json:
            click.echo(json.dumps(state.to_json()))
        else:
            click.echo(describe(state, (root / EXAMPLE_NAME).read_text()))

    status(f"starting services in {root} ...", workdir=str(root))
    try:
        serve(cfg, on_ready=ready)
    except AlreadyRunning as exc:
        raise click.ClickException(str(exc)) from exc
    status(f"stack stopped; data kept in {root}", workdir=str(root))
