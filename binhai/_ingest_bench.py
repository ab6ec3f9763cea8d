"""``binhai bench ingest``: the whole ingest path against its unavoidable parts, in one run.

Three phases over the same pre-generated load (:mod:`binhai._loadgen`):

1. **bare paho**: the publisher process publishes every batch QoS1; a bare paho subscriber
   process with manual acks takes them (the client cost no bridge can avoid);
2. **pipeline**: the same publisher, the same batches, through real ``binhai bridge run`` and
   ``binhai core serve`` processes (:class:`binhai._stack.Stack`) into PostgreSQL, until every
   batch is committed; latency is publish time to the batch's ``received_at`` (its transaction's
   start, a few ms before commit);
3. **raw COPY**: the same rows written by psycopg binary COPY straight into the same tables.

Everything runs in a scratch database that is dropped afterwards, and the services are embedded
ones unless URLs are given.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing as mp
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from binhai._audit import audit
from binhai._loadgen import Load, generate, publish_main, subscribe_main
from binhai._stack import Stack

__all__ = ["BenchConfig", "run_bench"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BenchConfig:
    workdir: Path
    mqtt_url: str | None = None
    dsn: str | None = None
    messages: int = 20_000
    devices: int = 200
    windows_per_batch: int = 4
    max_inflight: int = 1000
    cores: int = 1
    bridges: int = 1
    timeout_s: float = 300.0


def run_bench(cfg: BenchConfig) -> dict[str, Any]:
    cfg.workdir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        mqtt_url, server_dsn = _services(cfg, stack)
        dsn = stack.enter_context(_scratch_database(server_dsn))
        from cloud_core import migrate

        asyncio.run(migrate(dsn))
        tenant = f"bench-{secrets.token_hex(3)}"
        load = generate(
            tenant,
            messages=cfg.messages,
            devices=cfg.devices,
            windows_per_batch=cfg.windows_per_batch,
        )
        load_path = cfg.workdir / "load.pkl"
        load.save(load_path)
        bare, bare_cpu = _bare_phase(cfg, mqtt_url, load, load_path)
        pipe = _pipeline_phase(cfg, mqtt_url, dsn, load, load_path)
        copy = _copy_phase(dsn, load)
    n = len(load.messages)
    msgs_per_s = n / pipe["seconds"]
    return {
        "messages": n,
        "windows_per_batch": cfg.windows_per_batch,
        "bytes_per_msg": round(sum(len(p) for _, p in load.messages) / n),
        "msgs_per_s": round(msgs_per_s),
        "samples_per_s": round(load.samples / pipe["seconds"]),
        "bare_paho_msgs_per_s": round(n / bare),
        "bridge_vs_bare_paho": round(msgs_per_s * bare / n, 3),
        "raw_copy_msgs_per_s": round(n / copy),
        "ratio_vs_raw_copy": round(msgs_per_s * copy / n, 3),
        "p50_ms": pipe["p50_ms"],
        "p99_ms": pipe["p99_ms"],
        "lost": pipe["lost"],
        "duplicates": pipe["duplicates"],
        "cpu_s": pipe["cpu_s"],
        # CPU per message of each service, and of the bare subscriber (paho's own floor)
        "cpu_us_per_msg": {
            **{name: round(1e6 * s / n, 1) for name, s in pipe["cpu_s"].items()},
            "bare_paho": round(1e6 * bare_cpu / n, 1),
            "publisher": round(1e6 * pipe["publisher_cpu_s"] / n, 1),
        },
        "cores": cfg.cores,
        "bridges": cfg.bridges,
    }


def _services(cfg: BenchConfig, stack: ExitStack) -> tuple[str, str]:
    from binhai._embedded import start_broker, start_postgres

    mqtt_url, dsn = cfg.mqtt_url, cfg.dsn
    if mqtt_url is None:
        mqtt_url = stack.enter_context(start_broker(cfg.workdir / "broker")).url
    if dsn is None:
        dsn = stack.enter_context(start_postgres(cfg.workdir / "postgres")).dsn
    return mqtt_url, dsn


@contextmanager
def _scratch_database(server_dsn: str) -> Iterator[str]:
    """A fresh database on the server of ``server_dsn``, dropped afterwards."""
    name = f"binhai_bench_{secrets.token_hex(4)}"
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(server_dsn, dbname=name)
    finally:
        with psycopg.connect(server_dsn, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def _spawn(target: Any, *args: Any) -> mp.process.BaseProcess:
    proc = mp.get_context("spawn").Process(target=target, args=args, daemon=True)
    proc.start()
    return proc


def _publish(cfg: BenchConfig, url: str, load_path: Path, tag: str) -> mp.process.BaseProcess:
    times = cfg.workdir / f"times-{tag}.npy"
    return _spawn(publish_main, url, str(load_path), str(times), cfg.max_inflight)


def _wait_file(path: Path, proc: mp.process.BaseProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if not proc.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{path.name} did not appear (process exit code {proc.exitcode})")
        time.sleep(0.02)


def _bare_phase(cfg: BenchConfig, url: str, load: Load, load_path: Path) -> tuple[float, float]:
    """Seconds from the first publish to the bare subscriber's last message, and the
    subscriber's CPU seconds from its first message to its last."""
    ready, out = cfg.workdir / "bare.ready", cfg.workdir / "bare.done"
    flt = f"$share/bare/binhai/v1/{load.tenant}/+/up"
    sub = _spawn(
        subscribe_main, url, flt, len(load.messages), cfg.max_inflight, str(ready), str(out)
    )
    _wait_file(ready, sub, 60)
    pub = _publish(cfg, url, load_path, "bare")
    pub.join(cfg.timeout_s)
    _wait_file(out, sub, cfg.timeout_s)
    sub.join(10)
    first = int(np.load(cfg.workdir / "times-bare.npy")[0])
    cpu = float(Path(f"{out}.cpu").read_text())
    return (int(out.read_text()) - first) / 1e9, cpu


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pipeline_phase(
    cfg: BenchConfig, url: str, dsn: str, load: Load, load_path: Path
) -> dict[str, Any]:
    n = len(load.messages)
    with Stack(
        cfg.workdir / "stack",
        dsn=dsn,
        mqtt_url=url,
        cores=cfg.cores,
        bridges=cfg.bridges,
        tenant=load.tenant,
        share_group="bench",
        bridge_args=("--max-inflight", str(cfg.max_inflight)),
    ) as st:
        pids = {name: p.popen.pid for name, p in st.procs.items() if p.popen is not None}
        cpu0 = {name: _cpu_seconds(pid) for name, pid in pids.items()}
        pub = _publish(cfg, url, load_path, "pipe")
        with psycopg.connect(dsn, autocommit=True) as conn:
            deadline = time.monotonic() + cfg.timeout_s
            while _count(conn, load.tenant) < n and time.monotonic() < deadline:
                time.sleep(0.1)
            cpu = {name: round(_cpu_seconds(pid) - cpu0[name], 2) for name, pid in pids.items()}
            pub.join(30)
            committed = conn.execute(
                "SELECT device_id, seq, (extract(epoch FROM received_at) * 1e9)::int8"
                " FROM batches WHERE tenant = %s",
                (load.tenant,),
            ).fetchall()
            result = audit(conn, load.tenant, load.seq_ranges)
    times = np.load(cfg.workdir / "times-pipe.npy")
    publisher_cpu = float((cfg.workdir / "times-pipe.npy.cpu").read_text())
    published = {key: int(t) for key, t in zip(load.keys, times, strict=True)}
    lat = np.array([c - published[(d, s)] for d, s, c in committed], dtype=np.float64) / 1e6
    last_commit = max(c for _, _, c in committed) if committed else int(times[0])
    return {
        "seconds": max(1e-9, (last_commit - int(times[0])) / 1e9),
        "p50_ms": round(float(np.percentile(lat, 50)), 1) if lat.size else None,
        "p99_ms": round(float(np.percentile(lat, 99)), 1) if lat.size else None,
        "lost": result["lost"],
        "duplicates": result["duplicates"],
        "cpu_s": cpu,
        "publisher_cpu_s": publisher_cpu,
    }


def _count(conn: psycopg.Connection, tenant: str) -> int:
    row = conn.execute("SELECT count(*) FROM batches WHERE tenant = %s", (tenant,)).fetchone()
    return int(row[0]) if row else 0


_BATCH_COLS = "tenant, device_id, seq, sent_at, n_windows, n_samples, payload_bytes"
_WINDOW_COLS = (
    "tenant, device_id, seq, idx, sensor, t0, rate_hz, channels, n_samples, offload, novelty,"
    " algo_version, features, raw_codec, raw"
)


def _copy_phase(dsn: str, load: Load, chunk: int = 1000) -> float:
    """Seconds to COPY the load's rows (prepared beforehand) in transactions of ``chunk``."""
    import datetime as dt

    import protos

    tenant = f"{load.tenant}-copy"
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)

    def ts(ns: int) -> dt.datetime:
        return epoch + dt.timedelta(microseconds=ns // 1000)

    batches: list[tuple[Any, ...]] = []
    windows: list[list[tuple[Any, ...]]] = []
    for _, payload in load.messages:
        b = protos.TelemetryBatch.FromString(payload)
        rows = []
        for i, w in enumerate(b.windows):
            has_f, has_r = w.HasField("features"), w.HasField("raw")
            rows.append(
                (tenant, b.device_id, b.seq, i, w.sensor, ts(w.t0_ns), w.rate_hz, w.channels,
                 w.n_samples, int(w.offload), w.novelty,
                 w.features.algo_version if has_f else None,
                 list(w.features.values) if has_f else None,
                 int(w.raw.codec) if has_r else None, w.raw.data if has_r else None)
            )  # fmt: skip
        samples = sum(w.channels * w.n_samples for w in b.windows)
        batches.append(
            (tenant, b.device_id, b.seq, ts(b.sent_at_ns), len(b.windows), samples, len(payload))
        )
        windows.append(rows)
    with psycopg.connect(dsn) as conn:
        start = time.perf_counter()
        for lo in range(0, len(batches), chunk):
            with conn.transaction(), conn.cursor() as cur:
                with cur.copy(f"COPY batches ({_BATCH_COLS}) FROM STDIN (FORMAT BINARY)") as cp:
                    cp.set_types(["text", "text", "int8", "timestamptz", "int4", "int8", "int4"])
                    for row in batches[lo : lo + chunk]:
                        cp.write_row(row)
                with cur.copy(f"COPY windows ({_WINDOW_COLS}) FROM STDIN (FORMAT BINARY)") as cp:
                    cp.set_types(
                        ["text", "text", "int8", "int4", "text", "timestamptz", "float8", "int4",
                         "int4", "int2", "float4", "int4", "float4[]", "int2", "bytea"]
                    )  # fmt: skip
                    for rows in windows[lo : lo + chunk]:
                        for wrow in rows:
                            cp.write_row(wrow)
        return time.perf_counter() - start
