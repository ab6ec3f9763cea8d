"""``binhai bench ingest``: end-to-end ingest against a bare paho client and raw COPY."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from binhai.cli._options import emit, json_option


@click.command("ingest")
@click.option(
    "--mqtt-url",
    envvar="BINHAI_MQTT_URL",
    default=None,
    show_envvar=True,
    help="Broker to use; default: an embedded mosquitto started for the run.",
)
@click.option(
    "--dsn",
    envvar="BINHAI_DSN",
    default=None,
    show_envvar=True,
    help="PostgreSQL server (a scratch database is created on it and dropped); "
    "default: an embedded PostgreSQL.",
)
@click.option("--messages", default=20_000, show_default=True, help="Batches to publish.")
@click.option("--devices", default=200, show_default=True, help="Simulated devices.")
@click.option("--windows", default=4, show_default=True, help="Windows per batch.")
@click.option("--max-inflight", default=1000, show_default=True, help="Bridge in-flight bound.")
@click.option("--cores", default=1, show_default=True, help="Core processes.")
@click.option("--bridges", default=1, show_default=True, help="Bridge processes.")
@json_option
def ingest_cmd(
    mqtt_url: str | None,
    dsn: str | None,
    messages: int,
    devices: int,
    windows: int,
    max_inflight: int,
    cores: int,
    bridges: int,
    as_json: bool,
) -> None:
    """Publish pre-generated device batches and time them to committed rows.

    In the same run, the same load goes to a bare paho subscriber with manual QoS1 acks, and
    the same rows are written by raw psycopg binary COPY; the ratios compare against those.
    Latency is publish time to the batch's transaction (p50/p99).

    \b
    Examples:
      binhai bench ingest
      binhai bench ingest --json | tail -1
      BINHAI_DSN=postgresql://postgres@127.0.0.1/postgres binhai bench ingest --cores 2
    """
    from binhai._ingest_bench import BenchConfig, run_bench

    with tempfile.TemporaryDirectory(prefix="binhai-bench-ingest-") as tmp:
        cfg = BenchConfig(
            workdir=Path(tmp),
            mqtt_url=mqtt_url,
            dsn=dsn,
            messages=messages,
            devices=devices,
            windows_per_batch=windows,
            max_inflight=max_inflight,
            cores=cores,
            bridges=bridges,
        )
        result = run_bench(cfg)
    emit(result, as_json, "binhai bench ingest")
