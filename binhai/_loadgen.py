"""Ingest load for ``binhai bench ingest``: pre-generated batches, a publisher, a bare subscriber.

The batches look like a real fleet's: several 3-axis accelerometer windows each (simulated
gait and rest from :class:`firmware_sim.AccelModel`), features computed by the real kernels,
FEATURES, RAW and BOTH windows mixed, raw samples in the kernel codec. The publisher and the
bare paho subscriber run in their own processes; the publisher is :mod:`binhai._rawpub`, fast
enough not to be what is measured, (:func:`publish_main`, :func:`subscribe_main`)
so that none of them shares an interpreter with what it measures.
"""

from __future__ import annotations

import pickle
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Load", "generate", "publish_main", "subscribe_main"]

SENSOR = "accel"
RATE_HZ = 50.0
WINDOW = 128


@dataclass
class Load:
    tenant: str
    messages: list[tuple[str, bytes]]  # (topic, payload), in publish order
    keys: list[tuple[str, int]]  # (device_id, seq) of each message
    seq_ranges: dict[str, tuple[int, int]]
    samples: int  # channels * n_samples over all windows

    def save(self, path: Path) -> None:
        path.write_bytes(pickle.dumps(self.messages, protocol=pickle.HIGHEST_PROTOCOL))


def _window_pool(seed: int, size: int) -> list[tuple[np.ndarray, bytes]]:
    """``size`` distinct windows: (features of the 3 axes, codec bytes of the samples)."""
    import kernels
    from firmware_sim import AccelModel

    model = AccelModel(seed, RATE_HZ)
    pool = []
    for _ in range(size):
        x = np.ascontiguousarray(model.take(WINDOW).T)  # (3, n), channel-major
        feats = np.concatenate([kernels.window_features(ch, RATE_HZ) for ch in x])
        pool.append((feats, kernels.encode_samples(x.ravel())))
    return pool


def generate(
    tenant: str,
    *,
    messages: int,
    devices: int,
    windows_per_batch: int = 4,
    raw_fraction: float = 0.15,
    both_fraction: float = 0.05,
    seed: int = 7,
) -> Load:
    """``messages`` batches spread round robin over ``devices``, seq from 1 per device."""
    import kernels
    import protos

    rng = np.random.default_rng(seed)
    pool = _window_pool(seed, 512)
    ids = [f"bench-{i:05d}" for i in range(devices)]
    next_seq = dict.fromkeys(ids, 1)
    t_start = time.time_ns() - 3600 * 10**9
    step_ns = int(WINDOW / 2 / RATE_HZ * 1e9)  # 50% overlap
    out: list[tuple[str, bytes]] = []
    keys: list[tuple[str, int]] = []
    samples = 0
    for i in range(messages):
        dev = ids[i % devices]
        seq = next_seq[dev]
        next_seq[dev] = seq + 1
        t0 = t_start + (seq - 1) * windows_per_batch * step_ns
        b = protos.TelemetryBatch(tenant=tenant, device_id=dev, seq=seq, sent_at_ns=t0)
        for k in range(windows_per_batch):
            feats, raw = pool[int(rng.integers(len(pool)))]
            u = rng.random()
            mode = "raw" if u < raw_fraction else "both" if u < raw_fraction + both_fraction else ""
            w = b.windows.add(
                sensor=SENSOR,
                t0_ns=t0 + k * step_ns,
                rate_hz=RATE_HZ,
                channels=3,
                n_samples=WINDOW,
                novelty=float(rng.random()),
            )
            w.offload = {
                "raw": protos.Offload.OFFLOAD_RAW,
                "both": protos.Offload.OFFLOAD_BOTH,
            }.get(mode, protos.Offload.OFFLOAD_FEATURES)
            if mode != "raw":
                w.features.algo_version = kernels.ALGO_VERSION
                w.features.values.extend(feats.tolist())
            if mode:
                w.raw.codec = protos.Codec.CODEC_BINHAI
                w.raw.data = raw
            samples += 3 * WINDOW
        out.append((protos.topic_for(tenant, dev, "up"), b.SerializeToString()))
        keys.append((dev, seq))
    ranges = {d: (1, n - 1) for d, n in next_seq.items() if n > 1}
    return Load(tenant, out, keys, ranges, samples)


def _client(url: str, client_id: str, *, receive_maximum: int = 0):  # type: ignore[no-untyped-def]
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    import protos

    u = protos.MqttUrl.parse(url)
    c = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5 if u.v5 else mqtt.MQTTv311,
    )
    props = None
    if u.v5 and receive_maximum:
        props = Properties(PacketTypes.CONNECT)
        props.ReceiveMaximum = receive_maximum
    return c, u, props


def publish_main(url: str, load_path: str, times_path: str, max_inflight: int) -> None:
    """Publish every message of the saved load QoS1 (at most ``max_inflight`` unacked); save
    the wall-clock publish time (ns) of each in ``times_path``, and the CPU seconds publishing
    took in ``times_path`` + ``.cpu``."""
    import protos
    from binhai._rawpub import publish_qos1

    messages: list[tuple[str, bytes]] = pickle.loads(Path(load_path).read_bytes())
    u = protos.MqttUrl.parse(url)
    cpu0 = time.process_time()
    times = publish_qos1(u.host, u.port, messages, v5=u.v5, window=max_inflight)
    Path(f"{times_path}.cpu").write_text(str(time.process_time() - cpu0))
    np.save(times_path, times)


def subscribe_main(
    url: str, topic_filter: str, expect: int, receive_maximum: int, ready_path: str, out_path: str
) -> None:
    """A bare paho subscriber with manual QoS1 acks: ack each message as it arrives; save the
    wall-clock time (ns) of the last of ``expect`` messages in ``out_path``, and its CPU seconds
    from the first message to the last in ``out_path`` + ``.cpu``."""
    import paho.mqtt.client as mqtt

    c, u, props = _client(url, f"bench-bare-{time.time_ns()}", receive_maximum=receive_maximum)
    c.manual_ack_set(True)
    done = threading.Event()
    got = [0]

    cpu0 = [0.0]

    def on_message(client: mqtt.Client, _u: object, m: mqtt.MQTTMessage) -> None:
        client.ack(m.mid, m.qos)
        got[0] += 1
        if got[0] == 1:
            cpu0[0] = time.process_time()
        if got[0] >= expect:
            # the process's CPU from the first message to the last (the paho floor)
            Path(f"{out_path}.cpu").write_text(str(time.process_time() - cpu0[0]))
            Path(out_path).write_text(str(time.time_ns()))
            done.set()

    c.on_message = on_message
    c.on_subscribe = lambda *_: Path(ready_path).write_text("ready")
    c.connect(u.host, u.port, properties=props)
    c.subscribe(topic_filter, qos=1)
    c.loop_start()
    try:
        done.wait(600)
    finally:
        c.disconnect()
        c.loop_stop()
