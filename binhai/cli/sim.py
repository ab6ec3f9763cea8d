"""``binhai sim``: simulated fleets through the real SDK."""

from __future__ import annotations

import dataclasses
import json
import uuid
from pathlib import Path
from typing import Any

import click

from binhai.cli._options import emit, json_option, mqtt_option

# options that describe the plain accelerometer fleet; a scenario describes its own devices
_FLEET_ONLY = ("devices", "rate", "window", "id_offset")


@click.group("sim")
def command() -> None:
    """Simulate fleets of terminals (ground truth known) against a real broker.

    \b
    Examples:
      binhai sim run --devices 100 --duration 60
      binhai sim scenarios
      binhai sim run --scenario mixed --duration 60 --truth truth.jsonl
    """


@command.command("scenarios")
@json_option
def scenarios_cmd(as_json: bool) -> None:
    """List the shipped scenarios: devices and the events and faults drawn for their seed.

    \b
    Examples:
      binhai sim scenarios
      binhai sim scenarios --json

    A scenario is a TOML file (docs/simulator.md); ``sim run --scenario`` takes a shipped name
    or a path to your own.
    """
    from firmware_sim import build_fleet, load_scenario, shipped_scenarios

    rows: list[dict[str, Any]] = []
    for name, description in shipped_scenarios():
        scenario = load_scenario(name)
        labels = [lab for dev in build_fleet(scenario) for lab in dev.labels]
        count = {
            c: sum(lab.category == c for lab in labels)
            for c in ("event", "sensor_fault", "device_fault")
        }
        rows.append(
            {
                "name": name,
                "description": description,
                "duration_s": scenario.duration_s,
                "devices": scenario.device_count,
                "kinds": sorted({g.kind for g in scenario.devices}),
                "events": count["event"],
                "sensor_faults": count["sensor_fault"],
                "device_faults": count["device_fault"],
            }
        )
    if as_json:
        click.echo(json.dumps({"scenarios": rows}))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="shipped scenarios")
    for col in ("name", "devices", "events", "sensor faults", "device faults", "description"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["name"],
            f"{r['devices']} ({', '.join(r['kinds'])})",
            str(r["events"]),
            str(r["sensor_faults"]),
            str(r["device_faults"]),
            r["description"],
        )
    Console().print(table)


@command.command("run")
@mqtt_option
@click.option("--devices", default=20, show_default=True, help="Number of simulated devices.")
@click.option(
    "--duration",
    type=float,
    default=None,
    help="Simulated seconds to stream [default: 15, or the scenario's].",
)
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
@click.option("--seed", type=int, default=None, help="Signal seed [default: 1, or the scenario's].")
@click.option(
    "--scenario",
    default=None,
    help="A shipped scenario (see `binhai sim scenarios`) or a scenario .toml file.",
)
@click.option(
    "--truth",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the ground truth (one JSON label per line) here.",
)
@click.option(
    "--heartbeat", default=30.0, show_default=True, help="Seconds between health heartbeats."
)
@click.option(
    "--confirm",
    type=click.Choice(["stored", "puback"]),
    default="stored",
    show_default=True,
    help="When devices drop a batch: the cloud's stored confirmation, or the broker's PUBACK "
    "(a broker with no bridge and core behind it).",
)
@click.option(
    "--dsn",
    envvar="BINHAI_DSN",
    default=None,
    help="If given, wait for storage and audit loss/duplicates by seq.",
)
@click.option(
    "--credentials",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Per-device MQTT passwords for a broker that authenticates"
    " ('binhai device provision-fleet --out'); sets --tenant.",
)
@json_option
def run_cmd(
    mqtt_url: str,
    devices: int,
    duration: float | None,
    tenant: str | None,
    data_dir: Path | None,
    speed: float,
    rate: float,
    window: int,
    id_offset: int,
    seed: int | None,
    scenario: str | None,
    truth: Path | None,
    heartbeat: float,
    confirm: str,
    dsn: str | None,
    credentials: Path | None,
    as_json: bool,
) -> None:
    """Stream a simulated fleet to the broker: accelerometers, or a scenario's devices.

    \b
    Examples:
      binhai sim run --devices 100 --duration 60 --mqtt-url mqtt://127.0.0.1:1883
      binhai sim run --devices 50 --speed 10 --data-dir /tmp/fleet --dsn postgresql:///binhai --json
      binhai sim run --scenario mixed --speed 20 --truth truth.jsonl
      binhai sim run --scenario my-plant.toml --seed 3 --duration 300
      binhai sim run --devices 50 --credentials fleet.json --mqtt-url mqtts://broker.example

    Without --scenario: --devices 3-axis accelerometers (idle/walking/running). With it: the
    scenario's devices, sensors, events and faults (--seed and --duration override the
    scenario's); battery levels and reboots are applied live, partitions, clock skew and
    reconnect storms only by the evaluation. --truth writes every label as a JSON line
    (device, sensor, kind, category, t_on, t_off in seconds from the start, and t0_unix, the
    wall time of the start).

    With --data-dir, a simulator killed at any instant (even SIGKILL) and started again with the
    same directory resends what was not acknowledged and continues each device's seq. With --json
    the last line also holds "seq_ranges": {device: [first, last]} of the batches this run was
    responsible for (including those it found queued).
    """
    from binhai._audit import wait_stored
    from binhai.cli._progress import fleet_progress
    from firmware_sim import Fleet, FleetConfig, load_scenario

    ctx = click.get_current_context()
    given = [
        name
        for name in _FLEET_ONLY
        if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT
    ]
    if scenario is not None and given:
        flags = ", ".join("--" + g.replace("_", "-") for g in given)
        raise click.UsageError(f"{flags}: not with --scenario (the scenario lists its devices)")
    if scenario is None and truth is not None:
        raise click.UsageError("--truth needs --scenario (a plain fleet has no events)")
    sc = None
    if scenario is not None:
        sc = load_scenario(scenario)
        sc = dataclasses.replace(
            sc,
            seed=sc.seed if seed is None else seed,
            duration_s=sc.duration_s if duration is None else duration,
        )
    creds = None
    if credentials is not None:
        creds_tenant, creds = _load_credentials(credentials)
        if tenant is not None and tenant != creds_tenant:
            raise click.UsageError(f"--tenant {tenant}: {credentials} is for {creds_tenant}")
        tenant = creds_tenant
    tenant = tenant or f"sim-{uuid.uuid4().hex[:8]}"
    cfg = FleetConfig(
        devices=devices,
        duration_s=15.0 if duration is None else duration,
        tenant=tenant,
        broker_url=mqtt_url,
        data_dir=data_dir,
        rate_hz=rate,
        window=window,
        speed=speed,
        id_offset=id_offset,
        seed=1 if seed is None else seed,
        heartbeat_s=heartbeat,
        confirm=confirm,
    )

    def lookup(device_id: str) -> tuple[str, str]:
        assert creds is not None
        try:
            return creds[device_id]
        except KeyError:
            raise click.UsageError(f"no credentials for {device_id} in {credentials}") from None

    fleet = Fleet(cfg, scenario=sc, credentials=lookup if creds is not None else None)
    with fleet_progress(fleet.duration_s, len(fleet.members)) as progress:
        report = fleet.run(progress=progress)
    summary = {"tenant": tenant, **report.summary()}
    if sc is not None:
        summary.update(scenario=sc.name, seed=sc.seed, labels=len(fleet.labels))
    if truth is not None:
        _write_truth(truth, fleet.labels, fleet.t0_unix or 0.0)
    if dsn:
        summary.update(wait_stored(dsn, tenant, report.seq_ranges, timeout=30))
    if as_json:
        summary["seq_ranges"] = {d: list(r) for d, r in report.seq_ranges.items()}
    emit(summary, as_json, "simulation")
    if dsn and summary["lost"]:
        raise SystemExit(1)


def _load_credentials(path: Path) -> tuple[str, dict[str, tuple[str, str]]]:
    """The tenant and device id -> (username, password) of a provision-fleet file."""
    import json

    try:
        doc = json.loads(path.read_text())
        devices = {d: (c["username"], c["password"]) for d, c in doc["devices"].items()}
        return str(doc["tenant"]), devices
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise click.BadParameter(
            f"{path}: not a credentials file ({type(exc).__name__})", param_hint="--credentials"
        ) from None


def _write_truth(path: Path, labels: list[Any], t0_unix: float) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for lab in labels:
            row = {**dataclasses.asdict(lab), "t0_unix": t0_unix}
            fh.write(json.dumps(row) + "\n")
