"""The device process of the cold-start benchmark (``python -m binhai.bench.device_child``).

Arguments: broker URL (or ``fake``), data dir, the number of windows to stream after the first,
and optionally a file to record every published batch in (for :mod:`binhai.bench.paho_floor`,
which publishes the same bytes with nothing but paho). Starts a device exactly as an app would,
pushes one window and waits for its PUBACK, then streams more windows; prints one JSON line:
the monotonic time the first window was published (CLOCK_MONOTONIC is system-wide, so the parent
can subtract its own start time), peak RSS, private memory (USS, Linux only) and the kernel
backend the process ran (``BINHAI_KERNELS`` is the parent's choice).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from binhai.bench.footprint import peak_rss_mb, uss_mb, write_batches
from device_sdk import BatchPolicy, Device, FakeTransport, MqttTransport


class _Recording(MqttTransport):
    """The SDK's MQTT transport, also keeping each publish (topic, payload)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.sent: list[tuple[str, bytes]] = []

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> int:
        self.sent.append((topic, bytes(payload)))
        return super().publish(topic, payload, qos=qos, retain=retain)


def main() -> None:
    url, data_dir, more = sys.argv[1], sys.argv[2], int(sys.argv[3])
    record = Path(sys.argv[4]) if len(sys.argv) > 4 else None
    transport: FakeTransport | MqttTransport
    transport = FakeTransport() if url == "fake" else _Recording(url)
    rng = np.random.default_rng(0)
    with Device(
        "bench-0",
        tenant="bench",
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
    if record is not None and isinstance(transport, _Recording):
        write_batches(record, transport.sent)
    from kernels import _backend

    res = {
        "published_at": published,
        "rss_mb": peak_rss_mb(),
        "uss_mb": uss_mb(),
        "kernels_backend": _backend.MODE,
        "numba_loaded": "numba" in sys.modules,
    }
    print(json.dumps(res))


if __name__ == "__main__":
    main()
