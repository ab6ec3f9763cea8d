"""``binhai bench device``: the device SDK's footprint (cold start, memory, CPU, outbox rate)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import click

#: Issue 12: a Pi-class board (RSS stretch target 80 MB).
TARGETS = {"cold_start_warm_cache_s": 1.0, "rss_mb": 100.0, "devices_per_core_at_50hz_3axis": 200}


@click.command("device")
@click.option(
    "--mqtt-url",
    default=None,
    help="Broker for the cold-start runs (default: a private mosquitto if installed, else "
    "the in-memory FakeTransport).",
)
@click.option("--runs", default=3, show_default=True, help="Cold starts timed (after one warm-up).")
@click.option(
    "--signal-s", default=600.0, show_default=True, help="Seconds of 50 Hz signal for the CPU run."
)
@click.option("--outbox-cycles", default=300, show_default=True, help="Append+ack cycles timed.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object as the last line.")
def device_cmd(
    mqtt_url: str | None, runs: int, signal_s: float, outbox_cycles: int, as_json: bool
) -> None:
    """Measure the device SDK's footprint on this machine, next to its targets.

    \b
    Each figure is measured in fresh processes with the kernels a device gets
    (BINHAI_KERNELS=auto: the ahead-of-time compiled ones when the install built them), and
    again with the Numba JIT beside it (jit_*).

    \b
    kernels_backend          the backend the device processes ran (aot, or jit if not built)
    cold_start_warm_cache_s  process start -> first window PUBACKed (warm caches), median
    rss_mb                   peak RSS of that process after streaming 200 more windows
    uss_mb                   its private memory (Linux): RSS without shared library pages
    paho_floor_rss_mb        peak RSS of a bare paho client (no NumPy, no SDK) publishing the
                             same recorded batches to the same broker: the floor
    cpu_us_per_1k_samples    process CPU per 1,000 3-axis samples at 50 Hz, windows of 128
                             (50 % overlap), pushed 5 samples at a time, one window per batch,
                             through the real SQLite outbox
    devices_per_core_at_50hz_3axis   1e6 us / (CPU per sample x 50 samples/s)
    synergy_cpu_us_per_1k_samples    the same stream with uplink="synergy" (every window also
                             screened, ordinary ones summarised), and its ratio to the above
    outbox_batches_per_s     SQLite WAL append+ack cycles with fsync (the shipped outbox); a
                             bare SQLite table of the same rows with fsync, synchronous=NORMAL
                             and no fsync, and an append-only log, beside it

    \b
    Examples:
      binhai bench device
      binhai bench device --json | tail -1 | jq .devices_per_core_at_50hz_3axis
      binhai bench device --mqtt-url mqtt://127.0.0.1:1883 --runs 5
    """
    from rich.console import Console
    from rich.progress import Progress

    from binhai.bench import device as _bench

    err = Console(stderr=True)
    res: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory(prefix="binhai-bench-device-") as tmp,
        Progress(console=err, transient=True) as progress,
    ):
        task = progress.add_task("starting", total=3)
        broker = None
        url = mqtt_url
        if url is None:
            from binhai._embedded import find_mosquitto, start_broker

            if find_mosquitto() is not None:
                broker = start_broker(Path(tmp) / "broker", prefer="mosquitto")
                url = broker.url
        try:
            progress.update(task, description="cold starts (fresh processes)")
            batches = Path(tmp) / "batches.bin"
            res.update(
                _bench.cold_start(
                    url or "fake", Path(tmp), runs=runs, record=batches if url else None
                )
            )
            jit = _bench.cold_start(url or "fake", Path(tmp), runs=runs, backend="jit")
            res.update({f"jit_{k}": jit[k] for k in _COLD})
            res["cold_start_transport"] = "mqtt" if url else "fake"
            if url:
                floor = _bench.paho_floor(url, batches)
                res["paho_floor_rss_mb"] = floor["rss_mb"]
                res["paho_floor_uss_mb"] = floor["uss_mb"]
                res["paho_floor_batches"] = floor["batches"]
        finally:
            if broker is not None:
                broker.stop()
        progress.update(task, advance=1, description="CPU per sample")
        for prefix, backend in (("", "auto"), ("jit_", "jit")):
            win = _bench.cpu_in_child(backend, signal_s)
            syn = _bench.cpu_in_child(backend, signal_s, uplink="synergy")
            res.update({f"{prefix}{k}": v for k, v in win.items()})
            res[f"{prefix}synergy_cpu_us_per_1k_samples"] = syn["cpu_us_per_1k_samples"]
            res[f"{prefix}synergy_edge_us_per_window"] = syn["edge_us_per_window"]
        res["synergy_vs_windows_cpu"] = (
            res["synergy_cpu_us_per_1k_samples"] / res["cpu_us_per_1k_samples"]
        )
        progress.update(task, advance=1, description="outbox append+ack cycles")
        res.update(_bench.outbox(outbox_cycles))
        progress.update(task, advance=1)
    res["targets"] = TARGETS
    if as_json:
        click.echo(json.dumps(_rounded(res), sort_keys=True))
    else:
        click.echo(render(res))


_COLD = ("cold_start_warm_cache_s", "cold_start_first_run_s", "rss_mb", "uss_mb", "kernels_backend")


def _rounded(d: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in d.items()}


def _mark(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def render(r: dict[str, Any]) -> str:
    t = TARGETS
    cold, rss, dpc = r["cold_start_warm_cache_s"], r["rss_mb"], r["devices_per_core_at_50hz_3axis"]
    t_cold, t_rss, t_dpc = (
        t["cold_start_warm_cache_s"],
        t["rss_mb"],
        t["devices_per_core_at_50hz_3axis"],
    )
    base = r["outbox_batches_per_s"]
    floor = r.get("paho_floor_rss_mb")
    floor_line = (
        f"  bare paho client (floor) {floor:7.1f} MB  "
        f"(private {r['paho_floor_uss_mb'] or 0:.1f} MB; "
        f"the same {r['paho_floor_batches']} batches, no NumPy, no SDK)"
        if floor is not None
        else "  bare paho client (floor)   n/a     (needs a broker: mosquitto or --mqtt-url)"
    )
    return "\n".join(
        [
            f"device footprint (cold start through {r['cold_start_transport']}; kernels: "
            f"{r['kernels_backend']}, JIT beside it)",
            f"  cold start, warm cache  {cold:8.3f} s   target <= {t_cold}  {_mark(cold <= t_cold)}"
            f"   (first run {r['cold_start_first_run_s']:.2f} s; JIT "
            f"{r['jit_cold_start_warm_cache_s']:.3f} s)",
            f"  peak RSS                {rss:8.1f} MB  target <= {t_rss}  {_mark(rss <= t_rss)}"
            f"   (private/USS {r['uss_mb'] or float('nan'):.1f} MB; JIT {r['jit_rss_mb']:.1f} MB,"
            f" private {r['jit_uss_mb'] or float('nan'):.1f} MB)",
            floor_line,
            f"  CPU per 1k samples      {r['cpu_us_per_1k_samples']:8.0f} us  "
            f"(edge {r['edge_us_per_window']:.0f} us/window, "
            f"{r['batches_per_1k_samples']:.1f} batches per 1k samples; "
            f"JIT {r['jit_cpu_us_per_1k_samples']:.0f} us)",
            f"  with uplink=synergy     {r['synergy_cpu_us_per_1k_samples']:8.0f} us  "
            f"(JIT {r['jit_synergy_cpu_us_per_1k_samples']:.0f} us)",
            f"  devices per core        {dpc:8.0f}     target >= {t_dpc}  {_mark(dpc >= t_dpc)}",
            "outbox append+ack cycles per second (4 KB batches)",
            f"  SQLite WAL, fsync (shipped)  {base:8.0f}",
            f"  bare SQLite table, fsync     {r['sqlite_plain_full_batches_per_s']:8.0f}"
            f"  ({r['sqlite_plain_full_batches_per_s'] / base:.1f}x; rows only, no bookkeeping)",
            f"  bare table, sync=NORMAL      {r['outbox_normal_sync_batches_per_s']:8.0f}"
            f"  ({r['outbox_normal_sync_batches_per_s'] / base:.1f}x; loses commits on power loss)",
            f"  bare table, no fsync         {r['outbox_no_fsync_batches_per_s']:8.0f}"
            f"  ({r['outbox_no_fsync_batches_per_s'] / base:.1f}x; not durable)",
            f"  append-only log, fsync       {r['segment_log_fsync_batches_per_s']:8.0f}"
            f"  ({r['segment_log_fsync_batches_per_s'] / base:.1f}x; no eviction/priority index)",
        ]
    )
