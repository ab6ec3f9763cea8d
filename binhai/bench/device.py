"""Footprint measurements behind ``binhai bench device`` (cold start, RSS, CPU, outbox rate).

Each function measures one thing on this machine and returns plain numbers; the CLI renders
them. Nothing here asserts a target. Only :mod:`device_sdk`'s public API is used; the device
process of the cold-start runs is :mod:`binhai.bench.device_child`, the floor it is compared with
:mod:`binhai.bench.paho_floor`. Cold starts and CPU runs happen in fresh processes, one kernel
backend each (``BINHAI_KERNELS``: ``auto`` is what a device gets, ahead-of-time kernels when
built; ``jit`` the Numba path beside it).
"""

from __future__ import annotations

import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from device_sdk import BatchPolicy, Device, FakeTransport, Outbox, Uplink

RATE_HZ, CHANNELS, WINDOW = 50.0, 3, 128
APP_CHUNK = 5  # samples per push: an app loop at 10 Hz


def _env(backend: str) -> dict[str, str]:
    """The environment of a device process with the kernel backend ``backend``."""
    return {**os.environ, "BINHAI_KERNELS": backend}


def cold_start(
    url: str,
    workdir: Path,
    *,
    runs: int = 3,
    more_windows: int = 200,
    backend: str = "auto",
    record: Path | None = None,
) -> dict[str, Any]:
    """Start the device in fresh processes with the kernel backend ``backend`` (``auto``: what a
    device gets). The first run warms Numba's cache (JIT) or the OS's file cache; the rest count.
    ``record``: the last run writes the batches it published there (:mod:`.paho_floor`)."""
    times: list[float] = []
    rss: list[float] = []
    uss: list[float] = []
    ran: set[str] = set()
    numba_loaded = False
    for i in range(runs + 1):
        data = workdir / f"cold-{backend}-{i}"
        cmd = [sys.executable, "-m", "binhai.bench.device_child", url, str(data), str(more_windows)]
        if record is not None and i == runs:
            cmd.append(str(record))
        started = time.monotonic()
        out = subprocess.run(
            cmd, check=True, capture_output=True, text=True, env=_env(backend)
        ).stdout
        res = json.loads(out.strip().splitlines()[-1])
        times.append(res["published_at"] - started)
        rss.append(res["rss_mb"])
        if res["uss_mb"] is not None:
            uss.append(res["uss_mb"])
        ran.add(res["kernels_backend"])
        numba_loaded = numba_loaded or res["numba_loaded"]
    return {
        "cold_start_warm_cache_s": statistics.median(times[1:]),
        "cold_start_first_run_s": times[0],
        "rss_mb": max(rss[1:]),
        "uss_mb": max(uss[1:]) if len(uss) > 1 else None,
        "cold_start_runs_s": [round(t, 3) for t in times],
        "kernels_backend": "/".join(sorted(ran)),
        "numba_loaded": numba_loaded,
    }


def paho_floor(url: str, batches: Path) -> dict[str, Any]:
    """Peak RSS and USS of a bare paho client publishing the recorded ``batches`` (the floor)."""
    out = subprocess.run(
        [sys.executable, "-m", "binhai.bench.paho_floor", url, str(batches)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    res: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return res


def cpu_in_child(
    backend: str, seconds_of_signal: float = 600.0, *, uplink: Uplink = "windows"
) -> dict[str, Any]:
    """:func:`cpu` in a fresh process with the kernel backend ``backend``."""
    code = (
        "import json, sys; from binhai.bench.device import cpu; "
        "print(json.dumps(cpu(float(sys.argv[1]), uplink=sys.argv[2])))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(seconds_of_signal), uplink],
        check=True,
        capture_output=True,
        text=True,
        env=_env(backend),
    ).stdout
    res: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return res


def wrist_accel(n: int) -> np.ndarray:
    """``n`` samples (n, 3) of the simulator's wrist accelerometer (activities, no events)."""
    from firmware_sim import DeviceGroup, Scenario, build_fleet

    sc = Scenario("bench", 1, n / RATE_HZ + 1, (DeviceGroup("wrist", 1),))
    return build_fleet(sc)[0].take("accel", n)


def cpu(seconds_of_signal: float = 600.0, *, uplink: Uplink = "windows") -> dict[str, Any]:
    """CPU of one device at 50 Hz x 3 axes, windows of 128 with 50 % overlap, pushed by an app
    in chunks of 5 samples, one window per batch (as in real time, where a batch closes after
    ``max_age_s`` = 1 s with the one window of that second), through the real outbox. With
    ``uplink="synergy"`` every window is also screened and ordinary ones summarised."""
    n = int(seconds_of_signal * RATE_HZ)
    x = wrist_accel(n)
    with tempfile.TemporaryDirectory(prefix="binhai-bench-") as tmp:
        dev = Device(
            "bench-cpu",
            tenant="bench",
            data_dir=tmp,
            transport=FakeTransport(),
            batch=BatchPolicy(max_windows=1),
            max_pending_chunks=100_000,
            uplink=uplink,
        )
        try:
            dev.add_sensor("accel", rate_hz=RATE_HZ, channels=CHANNELS, window=WINDOW)
            dev.push("accel", x[:WINDOW], t0=1.7e9)  # warm-up: first calls, first batch
            assert dev.flush(60)
            warm = dev.stats()
            c0, w0 = time.process_time(), time.perf_counter()
            for i in range(WINDOW, n - APP_CHUNK + 1, APP_CHUNK):
                dev.push("accel", x[i : i + APP_CHUNK])
            assert dev.flush(600)
            cpu_s, wall_s = time.process_time() - c0, time.perf_counter() - w0
            s = dev.stats()
        finally:
            dev.close()
    samples = (n - WINDOW) // APP_CHUNK * APP_CHUNK
    us_per_1k = cpu_s * 1e6 / samples * 1000
    return {
        "cpu_us_per_1k_samples": us_per_1k,
        "edge_us_per_window": (s["cpu_ns_windows"] - warm["cpu_ns_windows"])
        / max(1, s["windows"] - warm["windows"])
        / 1000,
        "windows_per_1k_samples": s["windows"] / samples * 1000,
        "batches_per_1k_samples": s["batches_created"] / samples * 1000,
        "cpu_wall_ratio": cpu_s / wall_s,
        # One core gives 1e6 us of CPU per second; a device needs RATE_HZ samples per second.
        "devices_per_core_at_50hz_3axis": 1e6 / (us_per_1k * RATE_HZ / 1000),
    }


def _payload(windows: int = 16) -> bytes:
    """A typical FEATURES batch: 16 windows x 3 channels of features (~4 KB)."""
    rng = np.random.default_rng(2)
    return rng.standard_normal(windows * CHANNELS * 24).astype(np.float32).tobytes()


def _outbox_cycle(tmp: Path, n: int) -> float:
    """The shipped outbox (WAL, ``synchronous=FULL``), through its public API."""
    ob = Outbox(tmp, max_bytes=1 << 30)
    payload = _payload()
    t0 = time.perf_counter()
    for _ in range(n):
        seq = ob.append(lambda _s, _e: (payload, None), priority=0.0, anomaly=False)
        ob.acked(seq)
    dt = time.perf_counter() - t0
    ob.close()
    return n / dt


def _sqlite_cycle(tmp: Path, n: int, synchronous: str) -> float:
    """A bare SQLite WAL table of the outbox's row shape (seq, priority, payload, CRC): insert
    and delete one row per cycle at the given ``synchronous`` level (what a relaxed outbox
    would cost, without the outbox's bookkeeping)."""
    payload = _payload()
    db = sqlite3.connect(tmp / "plain.sqlite3", isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={synchronous}")
        db.execute(
            "CREATE TABLE b (seq INTEGER PRIMARY KEY, priority REAL, payload BLOB, crc INTEGER)"
        )
        t0 = time.perf_counter()
        for seq in range(1, n + 1):
            db.execute("INSERT INTO b VALUES (?, 0.0, ?, ?)", (seq, payload, zlib.crc32(payload)))
            db.execute("DELETE FROM b WHERE seq = ?", (seq,))
        return n / (time.perf_counter() - t0)
    finally:
        db.close()


def _log_cycle(tmp: Path, n: int) -> float:
    """An append-only segment log: length + CRC + payload, fsync per record; acks as tombstones
    appended without fsync (replayed on open) — the cheapest crash-safe alternative."""
    payload = _payload()
    fd = os.open(tmp / "segment.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    t0 = time.perf_counter()
    try:
        for seq in range(1, n + 1):
            head = seq.to_bytes(8, "little") + len(payload).to_bytes(4, "little")
            os.write(fd, head + zlib.crc32(payload).to_bytes(4, "little") + payload)
            os.fsync(fd)
            os.write(fd, seq.to_bytes(8, "little") + b"\0\0\0\0" + b"ACK!")
    finally:
        os.close(fd)
    return n / (time.perf_counter() - t0)


def outbox(n: int = 300) -> dict[str, Any]:
    """Append+ack cycles per second: the outbox as shipped, and the alternatives."""
    runs: dict[str, Callable[[Path], float]] = {
        "outbox_batches_per_s": lambda p: _outbox_cycle(p, n),
        "sqlite_plain_full_batches_per_s": lambda p: _sqlite_cycle(p, n, "FULL"),
        "outbox_normal_sync_batches_per_s": lambda p: _sqlite_cycle(p, n, "NORMAL"),
        "outbox_no_fsync_batches_per_s": lambda p: _sqlite_cycle(p, n, "OFF"),
        "segment_log_fsync_batches_per_s": lambda p: _log_cycle(p, n),
    }
    out: dict[str, Any] = {}
    for name, fn in runs.items():
        with tempfile.TemporaryDirectory(prefix="binhai-bench-") as tmp:
            out[name] = fn(Path(tmp))
    return out
