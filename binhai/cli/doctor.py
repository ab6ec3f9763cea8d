"""``binhai doctor``: check a deployment and say what to fix, one line each."""

from __future__ import annotations

import json
from pathlib import Path

import click

from binhai.cli._options import (
    core_auth,
    core_auth_options,
    core_option,
    dsn_option,
    json_option,
    mqtt_option,
    run_async,
)

__all__ = ["command"]

_SYSTEM_CONF = Path("/etc/mosquitto/mosquitto.conf")
_LOCAL = ("127.0.0.1", "localhost", "::1")


def _mosquitto_conf(given: Path | None, mqtt_url: str, workdir: Path | None) -> Path | None:
    """The config to read: the one given, the served stack's, or the system one when local."""
    from protos import MqttUrl

    if given is not None:
        return given
    if workdir is not None and (workdir / "broker" / "mosquitto.conf").exists():
        return workdir / "broker" / "mosquitto.conf"
    try:
        host = MqttUrl.parse(mqtt_url).host
    except ValueError:
        return None
    return _SYSTEM_CONF if host in _LOCAL and _SYSTEM_CONF.exists() else None


@click.command("doctor")
@mqtt_option
@dsn_option()
@core_option
@core_auth_options
@click.option(
    "--metrics",
    "metrics_urls",
    multiple=True,
    help="A core's or bridge's metrics URL (repeatable) [default: the running stack's].",
)
@click.option(
    "--dashboard",
    "dashboard_url",
    default=None,
    help="The core's dashboard URL (--http-listen) [default: the running stack's, else none].",
)
@click.option(
    "--mosquitto-conf",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="mosquitto config to check [default: the running stack's, or"
    " /etc/mosquitto/mosquitto.conf when the broker is local].",
)
@click.option(
    "--max-skew", default=5.0, show_default=True, help="Seconds a device clock may be off."
)
@click.option("--strict", is_flag=True, help="Exit non-zero on warnings too.")
@json_option
def command(
    mqtt_url: str,
    dsn: str,
    core_addr: str,
    metrics_urls: tuple[str, ...],
    dashboard_url: str | None,
    mosquitto_conf: Path | None,
    max_skew: float,
    strict: bool,
    as_json: bool,
) -> None:
    """Check broker, database, cores and bridges; one line per check with what to fix.

    Checks: broker reachable; its persistence, autosave interval and queue limit (mosquitto,
    when its config is readable); database reachable, migrations current, TimescaleDB
    capabilities; each core's gRPC health and authentication (the token accepted, or
    authentication off); each metrics endpoint (bridges connected to broker
    and cores, cores reached by a bridge); the dashboard, when there is one; device clock skew
    from the stored batches. Finds a
    running `binhai up --serve` stack by itself. Exits 1 when a check fails (--strict: or warns).

    \b
    Examples:
      binhai doctor
      binhai doctor --dsn postgresql://db/binhai --mqtt-url mqtt://broker:1883 \\
          --core-addr core:50051 --metrics http://core:9464/metrics --json
      binhai doctor --mosquitto-conf /etc/mosquitto/conf.d/binhai.conf --strict
    """
    from binhai._doctor import (
        Check,
        check_broker,
        check_core_auth,
        check_core_health,
        check_dashboard,
        check_database,
        check_metrics,
        check_mosquitto_conf,
        worst,
    )
    from binhai.cli._workdir import state_of

    state = state_of()
    workdir = Path(state.workdir) if state is not None else None
    metrics: list[tuple[str, str]] = [(u, u) for u in metrics_urls]
    if not metrics and state is not None:
        metrics = list(state.metrics.items())
    if dashboard_url is None and state is not None and state.dashboard:
        dashboard_url = state.dashboard

    async def main() -> list[Check]:
        out = [check_broker(mqtt_url)]
        out += check_mosquitto_conf(_mosquitto_conf(mosquitto_conf, mqtt_url, workdir))
        out += await check_database(dsn, max_skew_s=max_skew)
        for addr in (a.strip() for a in core_addr.split(",") if a.strip()):
            auth = core_auth(addr)
            out.append(await check_core_health(addr, auth))
            if out[-1].status == "ok":
                out.append(await check_core_auth(addr, auth))
        if not metrics:
            out.append(Check("metrics", "skip", "no metrics endpoint known", "give --metrics URL"))
        for name, url in metrics:
            out.append(check_metrics(name, url))
        if dashboard_url:
            out.append(check_dashboard(dashboard_url))
        return out

    checks = run_async(main())
    status = worst(checks)
    if as_json:
        click.echo(json.dumps({"status": status, "checks": [c.as_dict() for c in checks]}))
    else:
        for c in checks:
            click.echo(c.line())
        n = sum(c.status in ("warn", "fail") for c in checks)
        click.echo(f"{n} problem(s)" if n else "all good")
    if status == "fail" or (strict and status == "warn"):
        click.get_current_context().exit(1)
