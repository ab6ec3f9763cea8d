"""``binhai sim``: simulated fleets through the real SDK."""

from __future__ import annotations

import uuid
from pathlib import Path

import click

from binhai.cli._options import emit, json_option, mqtt_option


@click.group("sim")
def command() -> None:
    """Simulate fleets of terminals (ground truth known) against a real broker.

    \b
    Examples:
      binhai sim run --devices 100 --duration 60
      binhai sim run --help
    """


@command.command("run")
@mqtt_option
@click.option("--devices", default=20, show_default=True, help="Number of simulated devices.")
@click.option("--duration", default=15.0, show_default=True, help="Simulated seconds to stream.")
@click.option("--tenant", default=None, help="Tenant id (default: sim-<random>).")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep each device's outbox here; a restarted run resumes without loss.",
)
@click.option("--speed", default=1.0, show_default=True, help="Simulated seconds per wall second.")
@click.option("--rate", default=50.0, show_default=True, help="Accelerometer rate (Hz).")
@click.option("--window", default=128, show_default=True, help="Samples per window.")
@click.option(
    "--id-offset",
    default=0,
    show_default=True,
    help="First device number (disjoint ranges for several simulators).",
)
@click.option("--seed", default=1, show_default=True, help="Signal seed.")
@click.option(
    "--heartbeat", default=30.0, show_default=True, help="Seconds between health heartbeats."
)
@click.option(
    "--dsn",
    envvar="BINHAI_DSN",
    default=None,
    help="If given, wait for storage and audit loss/duplicates by seq.",
)
@json_option
def run_cmd(
    mqtt_url: str,
    devices: int,
    duration: float,
    tenant: str | None,
    data_dir: Path | None,
    speed: float,
    rate: float,
    window: int,
    id_offset: int,
    seed: int,
    heartbeat: float,
    dsn: str | None,
    as_json: bool,
) -> None:
    """Stream a simulated fleet (3-axis accelerometers: idle/walking/running) to the broker.

    \b
    Examples:
      binhai sim run --devices 100 --duration 60 --mqtt-url mqtt://127.0.0.1:1883
      binhai sim run --devices 50 --speed 10 --data-dir /tmp/fleet --dsn postgresql:///binhai --json

    With --data-dir, a simulator killed at any instant (even SIGKILL) and started again with the
    same directory resends what was not acknowledged and continues each device's seq. With --json
    the last line also holds "seq_ranges": {device: [first, last]} of the batches this run was
    responsible for (including those it found queued).
    """
    from binhai._audit import wait_stored
    from binhai.cli._progress import fleet_progress
    from firmware_sim import Fleet, FleetConfig

    tenant = tenant or f"sim-{uuid.uuid4().hex[:8]}"
    cfg = FleetConfig(
        devices=devices,
        duration_s=duration,
        tenant=tenant,
        broker_url=mqtt_url,
        data_dir=data_dir,
        rate_hz=rate,
        window=window,
        speed=speed,
        id_offset=id_offset,
        seed=seed,
        heartbeat_s=heartbeat,
    )
    fleet = Fleet(cfg)
    with fleet_progress(duration, devices) as progress:
        report = fleet.run(progress=progress)
    summary = {"tenant": tenant, **report.summary()}
    if dsn:
        summary.update(wait_stored(dsn, tenant, report.seq_ranges, timeout=30))
    if as_json:
        summary["seq_ranges"] = {d: list(r) for d, r in report.seq_ranges.items()}
    emit(summary, as_json, "simulation")
    if dsn and summary["lost"]:
        raise SystemExit(1)
