"""The floor of the device's memory: a bare paho client publishing the device's own batches.

``python -m binhai.bench.paho_floor URL FILE`` connects to the broker, publishes every recorded
(topic, payload) of :mod:`binhai.bench.device_child` at QoS 1, waits for all PUBACKs and prints
one JSON line with its peak RSS and private memory. It imports paho and nothing of binhai's
packages (no NumPy, no kernels, no SQLite outbox): what any MQTT device costs in Python.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from binhai.bench.footprint import peak_rss_mb, read_batches, uss_mb


def main() -> None:
    url, path = urlsplit(sys.argv[1]), Path(sys.argv[2])
    batches = read_batches(path)
    acked = [0]
    expected = [-1]
    done = threading.Event()
    lock = threading.Lock()

    def on_publish(_c: Any, _u: Any, _mid: int, _rc: Any, _p: Any) -> None:
        with lock:  # never held around a paho call: paho calls this under its own locks
            acked[0] += 1
            if acked[0] == expected[0]:
                done.set()

    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-paho-floor")
    c.on_publish = on_publish
    c.connect(url.hostname or "127.0.0.1", url.port or 1883)
    c.loop_start()
    try:
        for topic, payload in batches:
            c.publish(topic.replace("bench-0", "bench-floor"), payload, qos=1)
        with lock:
            expected[0] = len(batches)
            if acked[0] == expected[0]:
                done.set()
        if not done.wait(60):
            raise SystemExit(f"{len(batches) - acked[0]} publishes not acknowledged within 60 s")
    finally:
        c.loop_stop()
        c.disconnect()
    print(json.dumps({"rss_mb": peak_rss_mb(), "uss_mb": uss_mb(), "batches": len(batches)}))


if __name__ == "__main__":
    main()
