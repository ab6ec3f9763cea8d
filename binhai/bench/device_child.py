"""The device process of the cold-start benchmark (``python -m binhai.bench.device_child``).

Arguments: broker URL (or ``fake``), data dir, the number of windows to stream after the first.
Starts a device exactly as an app would, pushes one window and waits for its PUBACK, then
streams more windows; prints one JSON line: the monotonic time the first window was published
(CLOCK_MONOTONIC is system-wide, so the parent can subtract its own start time), peak RSS and
private memory (USS, Linux only).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

from device_sdk import BatchPolicy, Device, FakeTransport


def main() -> None:
    url, data_dir, more = sys.argv[1], sys.argv[2], int(sys.argv[3])
    transport = FakeTransport() if url == "fake" else None
    rng = np.random.default_rng(0)
    with Device(
        "bench-0",
        tenant="bench",
        broker_url=None if transport else url,
        transport=transport,
        data_dir=data_dir,
        batch=BatchPolicy(max_age_s=0.0),
        confirm="puback",  # no cloud behind the broker here: the PUBACK is what is measured
    ) as dev:
        dev.add_sensor("accel", rate_hz=50.0, channels=3, window=128)
        dev.push("accel", rng.standard_normal((128, 3)))
        if not dev.flush(30):
            raise SystemExit("first window not acknowledged within 30 s")
        published = time.monotonic()
        for _ in range(more):
            dev.push("accel", rng.standard_normal((64, 3)))
        dev.flush(60)
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"published_at": published, "rss_mb": rss_kb / 1024, "uss_mb": _uss_mb()}))


def _uss_mb() -> float | None:
    """Private (unshared) memory: what one more device process really costs, shared libs aside."""
    try:
        text = Path("/proc/self/smaps_rollup").read_text()
    except OSError:
        return None
    kb = sum(int(ln.split()[1]) for ln in text.splitlines() if ln.startswith("Private_"))
    return kb / 1024


if __name__ == "__main__":
    main()
