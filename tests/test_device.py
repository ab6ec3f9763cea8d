"""The Device through its public API, with FakeTransport as the network seam."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import kernels
import protos
from device_sdk import (
    BatchPolicy,
    ClosedError,
    ConfigError,
    Device,
    FakeTransport,
    OutboxLimits,
    WorkerError,
    decode_raw,
)

NS = 1_000_000_000
T0 = 1_700_000_000.0
FEATURES_ONLY = kernels.OffloadPolicy(novelty_threshold=1e9, both_fraction=0.0)
ALL_RAW = kernels.OffloadPolicy(novelty_threshold=0.0, both_fraction=0.0)
WAIT = 10.0  # generous upper bound for a flush that must succeed


def make(
    data_dir: Path, transport: FakeTransport | None = None, **kw: object
) -> tuple[Device, FakeTransport]:
    fake = transport or FakeTransport()
    kw.setdefault("batch", BatchPolicy(max_windows=2, max_age_s=30.0))
    kw.setdefault("offload_policy", FEATURES_ONLY)
    dev = Device("dev-1", tenant="acme", data_dir=data_dir, transport=fake, **kw)  # type: ignore[arg-type]
    return dev, fake


@pytest.fixture
def device(tmp_path: Path) -> Iterator[tuple[Device, FakeTransport]]:
    dev, fake = make(tmp_path / "dev")
    yield dev, fake
    dev.close(timeout=1.0)


def up_batches(dev: Device, fake: FakeTransport) -> list[protos.TelemetryBatch]:
    out = []
    for p in list(fake.published):
        if p.topic == dev.up_topic:
            b = protos.TelemetryBatch()
            b.ParseFromString(p.payload)
            out.append(b)
    return out


def wait_for(
    dev: Device, cond: Callable[[dict[str, Any]], bool], timeout: float = WAIT
) -> dict[str, Any]:
    """Poll ``dev.stats()`` until ``cond`` holds (the worker is asynchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        s = dev.stats()
        if cond(s):
            return s
        assert time.monotonic() < deadline, f"timed out waiting; stats: {s}"
        time.sleep(0.01)


def signal(n: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, channels)).astype(np.float32)
    return x[:, 0] if channels == 1 else x


def test_seq_is_strictly_increasing_from_one(device: tuple[Device, FakeTransport]) -> None:
    dev, fake = device
    dev.add_sensor("acc", rate_hz=100.0, window=32)
    for i in range(10):
        dev.push("acc", signal(64, seed=i), t0=T0 + i * 0.64)
    assert dev.flush(WAIT)
    batches = up_batches(dev, fake)
    seqs = [b.seq for b in batches]
    assert seqs == list(range(1, len(seqs) + 1))
    assert len(seqs) >= 10  # 39 windows, 2 per batch
    assert all((b.tenant, b.device_id) == ("acme", "dev-1") for b in batches)
    assert all(p.qos == 1 for p in fake.published if p.topic == dev.up_topic)


def test_seq_continues_across_reopen(tmp_path: Path) -> None:
    d = tmp_path / "dev"
    dev, fake = make(d)
    dev.add_sensor("acc", rate_hz=50.0, window=16)
    dev.push("acc", signal(100), t0=T0)
    assert dev.flush(WAIT)
    dev.close()
    first = [b.seq for b in up_batches(dev, fake)]
    assert first and first[0] == 1

    dev2, fake2 = make(d)
    try:
        dev2.add_sensor("acc", rate_hz=50.0, window=16)
        dev2.push("acc", signal(100), t0=T0 + 10)
        assert dev2.flush(WAIT)
        second = [b.seq for b in up_batches(dev2, fake2)]
    finally:
        dev2.close()
    assert second == list(range(first[-1] + 1, first[-1] + 1 + len(second)))


def test_unacked_batches_are_resent_with_their_seqs_after_reopen(tmp_path: Path) -> None:
    d = tmp_path / "dev"
    dev, fake = make(d, FakeTransport(auto_ack=False))
    dev.add_sensor("acc", rate_hz=50.0, window=16)
    dev.push("acc", signal(100), t0=T0)
    assert dev.flush(0.3) is False
    dev.close(timeout=0.1)
    pending = up_batches(dev, fake)
    assert pending
    old = {b.seq: b.SerializeToString() for b in pending}

    dev2, fake2 = make(d)
    try:
        assert dev2.flush(WAIT)  # the old batches go out first, unchanged
        resent = up_batches(dev2, fake2)
        assert {b.seq: b.SerializeToString() for b in resent} == old
        dev2.add_sensor("acc", rate_hz=50.0, window=16)
        dev2.push("acc", signal(100, seed=1), t0=T0 + 100)
        assert dev2.flush(WAIT)
        stats = dev2.stats()
    finally:
        dev2.close()
    new = [b.seq for b in up_batches(dev2, fake2)][len(resent) :]
    assert new and min(new) > max(old)
    assert new == list(range(max(old) + 1, max(old) + 1 + len(new)))
    assert stats["outbox_depth"] == 0


def test_flush_waits_for_acks(tmp_path: Path) -> None:
    dev, fake = make(tmp_path / "dev", FakeTransport(auto_ack=False))
    try:
        dev.add_sensor("acc", rate_hz=50.0, window=16)
        dev.push("acc", signal(40), t0=T0)
        assert dev.flush(0.2) is False
        s = dev.stats()
        assert s["outbox_depth"] >= 1 and s["batches_acked"] == 0
        fake.ack()
        assert dev.flush(WAIT) is True
        s = dev.stats()
        assert s["outbox_depth"] == 0
        assert s["batches_acked"] == s["batches_created"] >= 1
    finally:
        dev.close(timeout=1.0)


def test_flush_with_nothing_pushed_succeeds(device: tuple[Device, FakeTransport]) -> None:
    dev, fake = device
    assert dev.flush(WAIT)
    assert up_batches(dev, fake) == []


def test_flush_closes_a_partial_batch(device: tuple[Device, FakeTransport]) -> None:
    dev, fake = device
    dev.add_sensor("acc", rate_hz=50.0, window=16, hop=16)
    dev.push("acc", signal(16), t0=T0)  # one window; the batch holds up to 2
    assert dev.flush(WAIT)
    (batch,) = up_batches(dev, fake)
    assert len(batch.windows) == 1


def test_network_loss_loses_nothing(tmp_path: Path) -> None:
    dev, fake = make(tmp_path / "dev")
    try:
        dev.add_sensor("acc", rate_hz=100.0, window=32, hop=32)
        dev.push("acc", signal(320), t0=T0)
        assert dev.flush(WAIT)
        fake.disconnect()
        dev.push("acc", signal(320, seed=1))  # continues the stream
        assert dev.flush(0.3) is False
        assert dev.stats()["outbox_depth"] > 0
        fake.connect()
        dev.push("acc", signal(320, seed=2))
        assert dev.flush(WAIT)
    finally:
        dev.close()
    batches = up_batches(dev, fake)
    got = sorted(w.t0_ns for b in {b.seq: b for b in batches}.values() for w in b.windows)
    assert got == [round(T0 * NS) + k * 32 * NS // 100 for k in range(30)]
    assert sorted({b.seq for b in batches}) == list(range(1, max(b.seq for b in batches) + 1))


def test_window_times_follow_hop_and_rate(device: tuple[Device, FakeTransport]) -> None:
    dev, fake = device
    dev.add_sensor("acc", rate_hz=200.0, channels=3, window=64, hop=16)
    dev.push("acc", signal(400, channels=3), t0=T0)
    assert dev.flush(WAIT)
    windows = [w for b in up_batches(dev, fake) for w in b.windows]
    assert len(windows) == (400 - 64) // 16 + 1
    t0 = round(T0 * NS)
    assert [w.t0_ns for w in windows] == [t0 + k * 16 * NS // 200 for k in range(len(windows))]
    for w in windows:
        assert (w.sensor, w.channels, w.n_samples, w.rate_hz) == ("acc", 3, 64, 200.0)


def test_features_are_channel_major_and_match_the_kernels(
    device: tuple[Device, FakeTransport],
) -> None:
    dev, fake = device
    x = signal(128, channels=3, seed=4)
    dev.add_sensor("acc", rate_hz=50.0, channels=3, window=64, hop=64)
    dev.push("acc", x, t0=T0)
    assert dev.flush(WAIT)
    windows = [w for b in up_batches(dev, fake) for w in b.windows]
    assert len(windows) == 2
    for k, w in enumerate(windows):
        assert w.offload == protos.Offload.OFFLOAD_FEATURES
        assert w.features.algo_version == kernels.ALGO_VERSION
        assert len(w.features.values) == 3 * len(kernels.FEATURE_NAMES)
        part = x[64 * k : 64 * (k + 1)]
        expect = np.concatenate(
            [kernels.window_features(part[:, c].copy(), 50.0) for c in range(3)]
        )
        np.testing.assert_array_equal(np.array(w.features.values, dtype=np.float32), expect)


def test_raw_windows_decode_to_the_pushed_samples(tmp_path: Path) -> None:
    dev, fake = make(tmp_path / "dev", offload_policy=ALL_RAW)
    x = signal(96, channels=2, seed=9)
    try:
        dev.add_sensor("acc", rate_hz=50.0, channels=2, window=32, hop=32)
        dev.push("acc", x, t0=T0)
        assert dev.flush(WAIT)
        assert dev.stats()["windows_raw"] == 3
    finally:
        dev.close()
    windows = [w for b in up_batches(dev, fake) for w in b.windows]
    assert len(windows) == 3
    for k, w in enumerate(windows):
        assert w.offload == protos.Offload.OFFLOAD_RAW
        got = decode_raw(w.raw, w.channels, w.n_samples)
        np.testing.assert_array_equal(got, x[32 * k : 32 * (k + 1)].T)


def test_push_validation(device: tuple[Device, FakeTransport]) -> None:
    dev, _ = device
    dev.add_sensor("acc", rate_hz=50.0, channels=3, window=16)
    dev.add_sensor("hr", rate_hz=1.0, window=4)
    bad = [
        ("nope", np.zeros((4, 3))),
        ("acc", np.zeros((4, 2))),
        ("acc", np.zeros(12)),
        ("acc", np.zeros((2, 4, 3))),
        ("hr", np.zeros((4, 2))),
        ("hr", 5.0),
    ]
    for sensor, samples in bad:
        with pytest.raises(ConfigError) as info:
            dev.push(sensor, samples, t0=T0)
        assert isinstance(info.value, ValueError)
    dev.push("hr", np.zeros((4, 1)), t0=T0)  # (n, 1) is fine for one channel
    assert dev.flush(WAIT)
    assert dev.stats()["samples_pushed"] == 4


def test_sensor_and_device_config_errors(tmp_path: Path) -> None:
    dev, _ = make(tmp_path / "a")
    try:
        dev.add_sensor("acc", rate_hz=50.0)
        with pytest.raises(ConfigError):
            dev.add_sensor("acc", rate_hz=50.0)
        with pytest.raises(ConfigError):
            dev.add_sensor("bad", rate_hz=-1.0)
    finally:
        dev.close(timeout=1.0)
    with pytest.raises(ConfigError):
        Device("dev/1", tenant="acme", data_dir=tmp_path / "b", transport=FakeTransport())
    with pytest.raises(ConfigError):
        Device("d", tenant="acme", data_dir=tmp_path / "c", transport=FakeTransport(),
               overflow="spill")  # type: ignore[arg-type]  # fmt: skip
    with pytest.raises(ConfigError):
        Device("d", tenant="acme", data_dir=tmp_path / "d")


class BlockingTransport(FakeTransport):
    """Holds the device worker inside ``publish`` of an uplink until released."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> int:
        if topic.endswith("/up") and not self.release.is_set():
            self.entered.set()
            assert self.release.wait(WAIT)
        return super().publish(topic, payload, qos=qos, retain=retain)


def test_overflow_drop_counts_every_dropped_sample(tmp_path: Path) -> None:
    fake = BlockingTransport()
    dev, _ = make(tmp_path / "dev", fake, max_pending_chunks=1, overflow="drop",
                  batch=BatchPolicy(max_windows=1, max_age_s=30.0))  # fmt: skip
    try:
        dev.add_sensor("acc", rate_hz=50.0, window=8, hop=8)
        dev.push("acc", signal(8), t0=T0)  # one window -> one batch -> worker blocks publishing
        assert fake.entered.wait(WAIT)
        dev.push("acc", signal(8))  # fills the queue of one
        for _ in range(10):
            dev.push("acc", signal(8))  # dropped at once
        assert dev.stats()["samples_dropped_overflow"] == 80
        fake.release.set()
        assert dev.flush(WAIT)
        s = dev.stats()
    finally:
        dev.close()
    assert s["samples_dropped_overflow"] == 80
    assert s["samples_pushed"] == 16
    assert s["samples_pushed"] + s["samples_dropped_overflow"] == 12 * 8


def test_overflow_block_gives_up_after_push_timeout(tmp_path: Path) -> None:
    fake = BlockingTransport()
    dev, _ = make(tmp_path / "dev", fake, max_pending_chunks=1, push_timeout=0.05,
                  batch=BatchPolicy(max_windows=1, max_age_s=30.0))  # fmt: skip
    try:
        dev.add_sensor("acc", rate_hz=50.0, window=8, hop=8)
        dev.push("acc", signal(8), t0=T0)
        assert fake.entered.wait(WAIT)
        dev.push("acc", signal(8))
        dev.push("acc", signal(5))  # waits 50 ms, then drops
        fake.release.set()
        assert dev.flush(WAIT)
        s = dev.stats()
    finally:
        dev.close()
    assert (s["samples_pushed"], s["samples_dropped_overflow"]) == (16, 5)


def test_many_fast_pushes_account_for_every_sample(tmp_path: Path) -> None:
    dev, _ = make(tmp_path / "dev", max_pending_chunks=1, overflow="drop")
    try:
        dev.add_sensor("acc", rate_hz=100.0, window=16)
        dev.push("acc", signal(3), t0=T0)
        for i in range(500):
            dev.push("acc", signal(3, seed=i))
        assert dev.flush(WAIT)
        s = dev.stats()
    finally:
        dev.close()
    assert s["samples_pushed"] + s["samples_dropped_overflow"] == 501 * 3


def test_closed_device_raises(tmp_path: Path) -> None:
    dev, _ = make(tmp_path / "dev")
    dev.add_sensor("acc", rate_hz=50.0)
    dev.close()
    dev.close()  # idempotent
    with pytest.raises(ClosedError):
        dev.push("acc", np.zeros(4), t0=T0)
    with pytest.raises(ClosedError):
        dev.flush(1.0)


def test_context_manager_closes(tmp_path: Path) -> None:
    fake = FakeTransport()
    with Device("dev-1", tenant="acme", data_dir=tmp_path, transport=fake) as dev:
        dev.add_sensor("acc", rate_hz=50.0, window=16)
    with pytest.raises(ClosedError):
        dev.push("acc", np.zeros(4))


def test_status_online_on_connect_and_offline_will_and_on_close(tmp_path: Path) -> None:
    dev, fake = make(tmp_path / "dev")
    assert dev.status_topic == "binhai/v1/acme/dev-1/status"
    assert fake.will == (dev.status_topic, protos.STATUS_OFFLINE)
    assert fake.client_id == "acme:dev-1"
    assert dev.flush(WAIT)  # the worker has handled "connected"
    online = [p for p in fake.published if p.topic == dev.status_topic]
    assert [(p.payload, p.retain, p.qos) for p in online] == [(protos.STATUS_ONLINE, True, 1)]
    fake.disconnect()
    fake.connect()
    assert dev.flush(WAIT)
    dev.close()
    status = [(p.payload, p.retain) for p in fake.published if p.topic == dev.status_topic]
    assert status == [
        (protos.STATUS_ONLINE, True),
        (protos.STATUS_ONLINE, True),
        (protos.STATUS_OFFLINE, True),
    ]


def test_gap_in_time_discards_partial_window(device: tuple[Device, FakeTransport]) -> None:
    dev, fake = device
    dev.add_sensor("acc", rate_hz=10.0, window=8, hop=8)
    dev.push("acc", signal(12), t0=T0)  # one window, 4 samples pending
    dev.push("acc", signal(8), t0=T0 + 100)  # a jump: the 4 are discarded
    assert dev.flush(WAIT)
    assert dev.stats()["samples_discarded_gap"] == 4
    times = [w.t0_ns for b in up_batches(dev, fake) for w in b.windows]
    assert times == [round(T0 * NS), round((T0 + 100) * NS)]


def test_two_sensors_are_windowed_independently(device: tuple[Device, FakeTransport]) -> None:
    dev, fake = device
    dev.add_sensor("acc", rate_hz=50.0, channels=3, window=16, hop=16)
    dev.add_sensor("hr", rate_hz=1.0, window=4, hop=4)
    dev.push("acc", signal(32, channels=3), t0=T0)
    dev.push("hr", signal(8), t0=T0)
    assert dev.flush(WAIT)
    windows = [w for b in up_batches(dev, fake) for w in b.windows]
    by = {s: [w for w in windows if w.sensor == s] for s in ("acc", "hr")}
    assert [len(by["acc"]), len(by["hr"])] == [2, 2]
    assert {len(w.features.values) for w in by["acc"]} == {3 * len(kernels.FEATURE_NAMES)}
    assert {len(w.features.values) for w in by["hr"]} == {len(kernels.FEATURE_NAMES)}
    assert [w.t0_ns for w in by["hr"]] == [round(T0 * NS), round((T0 + 4) * NS)]


class FailingTransport(FakeTransport):
    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> int:
        if topic.endswith("/up"):
            raise RuntimeError("socket on fire")
        return super().publish(topic, payload, qos=qos, retain=retain)


def test_worker_failure_reaches_the_caller(tmp_path: Path) -> None:
    dev, _ = make(tmp_path / "dev", FailingTransport())
    dev.add_sensor("acc", rate_hz=50.0, window=8, hop=8)
    dev.push("acc", signal(8), t0=T0)
    with pytest.raises(WorkerError) as info:
        dev.flush(WAIT)
    assert isinstance(info.value.__cause__, RuntimeError)
    with pytest.raises(WorkerError):
        dev.push("acc", signal(8))
    with pytest.raises(WorkerError):
        dev.close()
    with pytest.raises(ClosedError):
        dev.push("acc", signal(8))


def test_outbox_overflow_gaps_are_all_explained_upstream(tmp_path: Path) -> None:
    fake = FakeTransport(connected=False)
    dev, _ = make(tmp_path / "dev", fake, outbox=OutboxLimits(max_bytes=3000))
    try:
        dev.add_sensor("acc", rate_hz=50.0, window=16, hop=16)
        dev.push("acc", signal(16 * 40), t0=T0)  # 40 windows -> 20 batches while offline
        assert dev.flush(0.2) is False  # closes the open batch; nothing can be acked
        s = wait_for(dev, lambda s: s["windows"] == 40 and s["pending_chunks"] == 0)
        assert s["outbox_evicted_batches"] > 0
        assert s["outbox_bytes"] <= 3000
        fake.connect()
        assert dev.flush(WAIT)
        dev.push("acc", signal(32, seed=1))
        assert dev.flush(WAIT)  # this batch carries what no acked batch reported yet
        dev.push("acc", signal(32, seed=2))
        assert dev.flush(WAIT)
    finally:
        dev.close()
    batches = up_batches(dev, fake)
    sent = {b.seq for b in batches}
    explained = {s for b in batches for r in b.evicted for s in range(r.first, r.last + 1)}
    assert {r.reason for b in batches for r in b.evicted} == {"outbox_full"}
    top = max(sent)
    assert sent | explained == set(range(1, top + 1))
    assert not sent & explained
    assert len(explained) == s["outbox_evicted_batches"]
    # once a batch carrying the ranges was acked, later batches stop repeating them
    assert list(batches[-1].evicted) == []


def test_engine_settings_are_device_parameters() -> None:
    """EngineConfig's fields are Device's parameters of the same names and defaults (the live
    simulator passes an EngineConfig to Device field by field; a setting Device lacked would
    be dropped there silently)."""
    import dataclasses
    import inspect

    from device_sdk._engine import EngineConfig

    params = inspect.signature(Device).parameters
    for f in dataclasses.fields(EngineConfig):
        assert f.name in params, f.name
        assert params[f.name].default == getattr(EngineConfig(), f.name), f.name
