"""Downlink commands, heartbeats and the clock, through the Device's public API.

Most tests use FakeTransport (the seam); the last one sends malformed commands through a real
broker with paho while the device streams over MqttTransport.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

import kernels
import protos
from device_sdk import (
    BatchPolicy,
    CallbackError,
    Clock,
    Device,
    DevicePolicy,
    FakeTransport,
    decode_raw,
)

NS = 1_000_000_000
T0 = 1_700_000_000.0
WAIT = 10.0
FEATURES_ONLY = kernels.OffloadPolicy(novelty_threshold=1e9, both_fraction=0.0)
EPOCH_1970 = 86_400 * NS  # an RTC that booted at 1970-01-02


def make(
    tmp_path: Path, fake: FakeTransport | None = None, **kw: Any
) -> tuple[Device, FakeTransport]:
    fake = fake or FakeTransport()
    kw.setdefault("batch", BatchPolicy(max_windows=4, max_age_s=0.05))
    kw.setdefault("offload_policy", FEATURES_ONLY)
    dev = Device("dev-1", tenant="acme", data_dir=tmp_path / "dev", transport=fake, **kw)
    return dev, fake


@pytest.fixture
def device(tmp_path: Path) -> Iterator[tuple[Device, FakeTransport]]:
    dev, fake = make(tmp_path)
    dev.add_sensor("acc", rate_hz=50.0, channels=3, window=32, hop=32)
    yield dev, fake
    dev.close(timeout=1.0)


def batches(
    fake: FakeTransport, topic: str = "binhai/v1/acme/dev-1/up"
) -> list[protos.TelemetryBatch]:
    out = []
    for p in list(fake.published):
        if p.topic == topic:
            b = protos.TelemetryBatch()
            b.ParseFromString(p.payload)
            out.append(b)
    return out


def acks(fake: FakeTransport) -> dict[str, protos.CommandAck]:
    return {a.id: a for b in batches(fake) for a in b.acks}


def command(cid: str, **body: Any) -> bytes:
    return protos.Command(id=cid, issued_at_ns=time.time_ns(), **body).SerializeToString()


def wait_until(cond: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def signal(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 3)).astype(np.float32)


def test_subscribes_to_its_down_topic_on_every_connect(
    device: tuple[Device, FakeTransport],
) -> None:
    dev, fake = device
    assert dev.flush(WAIT)
    fake.disconnect()
    fake.connect()
    assert dev.flush(WAIT)
    assert fake.subscriptions == [dev.down_topic] * 2 == ["binhai/v1/acme/dev-1/down"] * 2


def test_policy_is_applied_and_acked_in_the_next_batch(
    device: tuple[Device, FakeTransport],
) -> None:
    dev, fake = device
    dev.push("acc", signal(64), t0=T0)
    assert dev.flush(WAIT)
    assert {w.offload for b in batches(fake) for w in b.windows} == {
        protos.Offload.OFFLOAD_FEATURES
    }
    seen: list[int] = []
    # novelty_threshold 0 must be listed in explicit: 0 otherwise means "unchanged"
    policy = protos.Policy(novelty_threshold=0.0, explicit=["novelty_threshold"], window=64)
    fake.deliver(dev.down_topic, command("p1", policy=policy))
    assert dev.flush(WAIT)
    seen = [b.seq for b in batches(fake) if b.acks]
    dev.push("acc", signal(128, seed=1))
    assert dev.flush(WAIT)
    assert acks(fake)["p1"].ok and acks(fake)["p1"].reason == ""
    assert len(seen) == 1
    after = [w for b in batches(fake) if b.seq > seen[0] for w in b.windows]
    assert after and all(w.offload == protos.Offload.OFFLOAD_RAW for w in after)
    assert {w.n_samples for w in after} == {64}  # the window length changed too
    s = dev.stats()
    assert (s["commands_ok"], s["commands_nacked"]) == (1, 0)


def test_zero_fields_keep_their_value_unless_explicit(tmp_path: Path) -> None:
    got: list[DevicePolicy] = []
    dev, fake = make(tmp_path, on_policy=got.append)
    try:
        fake.deliver(dev.down_topic, command("a", policy=protos.Policy(both_fraction=0.5)))
        fake.deliver(dev.down_topic, command("b", policy=protos.Policy(budget_bytes_per_s=10.0)))
        fake.deliver(
            dev.down_topic,
            command("c", policy=protos.Policy(explicit=["both_fraction", "budget_burst_bytes"])),
        )
        assert dev.flush(WAIT)
        wait_until(lambda: len(got) == 3)
    finally:
        dev.close()
    assert got[0].offload.both_fraction == 0.5
    assert got[0].offload.novelty_threshold == FEATURES_ONLY.novelty_threshold
    assert got[1].offload.both_fraction == 0.5 and got[1].budget.bytes_per_s == 10.0
    assert got[2].offload.both_fraction == 0.0 and got[2].budget.burst_bytes == 0.0
    assert got[2].budget.bytes_per_s == 10.0 and got[2].window is None


def test_flush_now_sends_the_open_batch_at_once(tmp_path: Path) -> None:
    dev, fake = make(tmp_path, batch=BatchPolicy(max_windows=100, max_age_s=60.0))
    try:
        dev.add_sensor("acc", rate_hz=50.0, channels=3, window=32, hop=32)
        dev.push("acc", signal(96), t0=T0)
        time.sleep(0.2)
        assert batches(fake) == []  # held by the 60 s batch age
        fake.deliver(dev.down_topic, command("f", flush=protos.FlushNow()))
        wait_until(lambda: len(batches(fake)) == 1)
        (b,) = batches(fake)
        assert len(b.windows) == 3 and [a.id for a in b.acks] == ["f"] and b.acks[0].ok
    finally:
        dev.close()


def test_reset_counters(device: tuple[Device, FakeTransport]) -> None:
    dev, fake = device
    dev.push("acc", signal(64), t0=T0)
    assert dev.flush(WAIT)
    assert dev.stats()["windows"] == 2
    fake.deliver(dev.down_topic, command("r", reset_counters=protos.ResetCounters()))
    assert dev.flush(WAIT)
    s = dev.stats()
    assert (s["windows"], s["samples_pushed"], s["commands_ok"]) == (0, 0, 1)
    assert s["next_seq"] > 1  # seq is never reset


def test_send_raw_resends_cached_windows_in_the_range(device: tuple[Device, FakeTransport]) -> None:
    dev, fake = device
    x = signal(32 * 6, seed=3)
    dev.push("acc", x, t0=T0)
    assert dev.flush(WAIT)
    first = batches(fake)
    assert all(w.offload == protos.Offload.OFFLOAD_FEATURES for b in first for w in b.windows)
    start, end = round(T0 * NS) + 32 * NS // 50, round(T0 * NS) + 4 * 32 * NS // 50
    cmd = protos.SendRaw(sensor="acc", start_ns=start, end_ns=end)
    fake.deliver(dev.down_topic, command("s", send_raw=cmd))
    assert dev.flush(WAIT)
    resent = [w for b in batches(fake)[len(first) :] for w in b.windows]
    assert [w.t0_ns for w in resent] == [round(T0 * NS) + k * 32 * NS // 50 for k in (1, 2, 3)]
    for k, w in zip((1, 2, 3), resent, strict=True):
        assert w.offload == protos.Offload.OFFLOAD_RAW and w.resent
        got = decode_raw(w.raw, w.channels, w.n_samples)
        np.testing.assert_array_equal(got, x[32 * k : 32 * (k + 1)].T)
    assert acks(fake)["s"].ok and dev.stats()["raw_windows_resent"] == 3


def test_send_raw_outside_the_cache_is_nacked(device: tuple[Device, FakeTransport]) -> None:
    dev, fake = device
    dev.push("acc", signal(64), t0=T0)
    cmd = protos.SendRaw(start_ns=10, end_ns=20)
    fake.deliver(dev.down_topic, command("s", send_raw=cmd))
    assert dev.flush(WAIT)
    ack = acks(fake)["s"]
    assert not ack.ok and "no raw windows held" in ack.reason


def _unknown_body() -> bytes:
    # id "u" plus field 99 (a command kind from a newer cloud): bytes this device cannot map.
    return protos.Command(id="u", issued_at_ns=1).SerializeToString() + b"\x9a\x06\x00"


BAD: list[tuple[str, bytes, str]] = [
    ("", b"\xff\xfe not protobuf", "undecodable"),
    ("empty", protos.Command(id="empty").SerializeToString(), "empty command"),
    ("", protos.Command(flush=protos.FlushNow()).SerializeToString(), "missing id"),
    ("u", _unknown_body(), "unknown command"),
    ("neg", command("neg", policy=protos.Policy(both_fraction=-0.5)), "both_fraction"),
    ("nan", command("nan", policy=protos.Policy(novelty_threshold=math.nan)), "finite"),
    ("bigwin", command("bigwin", policy=protos.Policy(window=1 << 20)), "window"),
    ("field", command("field", policy=protos.Policy(explicit=["colour"])), "colour"),
    ("range", command("range", send_raw=protos.SendRaw(start_ns=5, end_ns=5)), "empty range"),
    ("sensor", command("sensor", send_raw=protos.SendRaw(sensor="gps", end_ns=9)), "gps"),
]


def test_bad_commands_are_nacked_counted_and_streaming_goes_on(
    device: tuple[Device, FakeTransport],
) -> None:
    dev, fake = device
    for k, (_, payload, _) in enumerate(BAD):
        dev.push("acc", signal(32, seed=k), t0=None if k else T0)
        fake.deliver(dev.down_topic, payload)
    fake.deliver("binhai/v1/acme/dev-2/down", command("x", flush=protos.FlushNow()))
    dev.push("acc", signal(32, seed=99))
    assert dev.flush(WAIT)
    got = [a for b in batches(fake) for a in b.acks]
    assert len(got) == len(BAD) + 1 and not any(a.ok for a in got)
    for ack, (cid, _, needle) in zip(got, BAD, strict=False):
        assert ack.id == cid and needle in ack.reason, (cid, ack.reason)
    assert "not this device's down topic" in got[-1].reason
    s = dev.stats()
    assert (s["commands_nacked"], s["commands_ok"]) == (len(BAD) + 1, 0)
    assert s["windows"] == len(BAD) + 1  # every window still made it
    assert len([w for b in batches(fake) for w in b.windows]) == len(BAD) + 1


def test_a_redelivered_command_is_applied_once_and_acked_again(
    device: tuple[Device, FakeTransport],
) -> None:
    dev, fake = device
    dev.push("acc", signal(32 * 4), t0=T0)
    assert dev.flush(WAIT)  # (commands overtake queued samples: they ride the control lane)
    payload = command("dup", send_raw=protos.SendRaw(start_ns=0, end_ns=1 << 62))
    fake.deliver(dev.down_topic, payload)
    fake.deliver(dev.down_topic, payload)
    assert dev.flush(WAIT)
    assert [a.id for b in batches(fake) for a in b.acks] == ["dup", "dup"]
    s = dev.stats()
    assert (s["commands_ok"], s["commands_duplicate"], s["raw_windows_resent"]) == (2, 1, 4)


def test_callbacks_run_on_their_own_thread_and_their_errors_reach_the_caller(
    tmp_path: Path,
) -> None:
    threads: list[str] = []
    release = threading.Event()

    def on_command(cmd: protos.Command, ack: protos.CommandAck) -> None:
        threads.append(threading.current_thread().name)
        release.wait(WAIT)  # a slow app callback must not hold up the device
        if cmd.id == "boom":
            raise RuntimeError("app bug")

    dev, fake = make(tmp_path, on_command=on_command)
    try:
        dev.add_sensor("acc", rate_hz=50.0, channels=3, window=32, hop=32)
        fake.deliver(dev.down_topic, command("boom", time_sync=protos.TimeSync()))
        dev.push("acc", signal(64), t0=T0)
        assert dev.flush(WAIT)  # streaming goes on while the callback blocks
        assert dev.stats()["windows"] == 2
        release.set()
        wait_until(lambda: dev.stats()["callback_errors"] == 1)
        with pytest.raises(CallbackError) as info:
            dev.push("acc", signal(32))
        assert isinstance(info.value.__cause__, RuntimeError)
        dev.push("acc", signal(32))  # raised once; the device keeps working
        assert dev.flush(WAIT)
    finally:
        dev.close()
    assert threads == ["device-dev-1-callbacks"]


def test_heartbeat_carries_health_also_when_idle(tmp_path: Path) -> None:
    dev, fake = make(tmp_path, heartbeat_s=0.1, firmware="fw-1.2")
    try:
        wait_until(lambda: sum(b.HasField("health") for b in batches(fake)) >= 3)
        dev.set_battery(0.4)
        dev.add_sensor("acc", rate_hz=50.0, channels=3, window=32, hop=32)
        dev.push("acc", signal(64), t0=T0)
        n = len(batches(fake))
        wait_until(lambda: any(b.HasField("health") for b in batches(fake)[n:]))
    finally:
        dev.close()
    hb = [b.health for b in batches(fake) if b.HasField("health")]
    assert all(not b.windows for b in batches(fake)[:3])  # idle heartbeats: no windows
    assert hb[0].battery == -1.0 and hb[-1].battery == pytest.approx(0.4)
    assert {h.firmware for h in hb} == {"fw-1.2"}
    assert {h.algo_version for h in hb} == {kernels.ALGO_VERSION}
    assert hb[-1].cpu_us_per_window > 0
    assert dev.stats()["heartbeats"] >= 4


def test_offset_estimate_takes_the_least_delayed_sample() -> None:
    mono = [0]
    clock = Clock(wall_clock=lambda: EPOCH_1970 + mono[0], mono=lambda: mono[0])
    true_offset = 1_700_000_000 * NS
    assert not clock.synced and clock.offset_ns() == EPOCH_1970
    for delay_ms, at_s in [(80, 1), (5, 2), (3000, 3), (40, 4)]:
        mono[0] = at_s * NS
        clock.observe(mono[0] + true_offset - delay_ms * 1_000_000)  # issued delay ago
    assert clock.synced
    assert clock.offset_ns() == true_offset - 5_000_000  # the 5 ms sample wins
    assert clock.rtc_error_ns() == clock.offset_ns() - EPOCH_1970
    clock.observe(0)  # no time in the command: ignored
    assert clock.offset_ns() == true_offset - 5_000_000
    # An old sample loses against a fresher, slightly more delayed one: drift makes it stale.
    mono[0] += 3600 * NS  # an hour later; 50 ppm of an hour = 180 ms of possible drift
    clock.observe(mono[0] + true_offset - 20_000_000)
    assert clock.offset_ns() == true_offset - 20_000_000


def test_wrong_rtc_batches_buffered_before_sync_are_restamped(tmp_path: Path) -> None:
    """Booted offline at 1970: windows are timed on the monotonic clock, held in the outbox,
    re-stamped when the first command brings the cloud's clock, then published."""
    fake = FakeTransport(connected=False)
    mono_at_1970 = time.monotonic_ns()
    dev, fake = make(
        tmp_path, fake, wall_clock=lambda: EPOCH_1970 + time.monotonic_ns() - mono_at_1970
    )
    try:
        dev.add_sensor("acc", rate_hz=50.0, channels=3, window=32, hop=32)
        pushed_at = time.time_ns()
        dev.push("acc", signal(32 * 4))  # SDK-timed: taken to end now
        wait_until(lambda: dev.stats()["outbox_depth"] >= 1)
        fake.connect()
        time.sleep(0.3)
        assert batches(fake) == []  # held: the RTC is known wrong, waiting for the cloud
        fake.deliver(dev.down_topic, command("t", time_sync=protos.TimeSync()))
        dev.push("acc", signal(32 * 2, seed=1))  # continues the stream
        assert dev.flush(WAIT)
        s = dev.stats()
    finally:
        dev.close()
    got = batches(fake)
    windows = sorted(w.t0_ns for b in got for w in b.windows)
    expect0 = pushed_at - 32 * 4 * NS // 50
    assert len(windows) == 6
    assert all(b.clock_synced for b in got)
    assert abs(windows[0] - expect0) < 0.3 * NS  # 1970 became now
    assert np.diff(windows).tolist() == [32 * NS // 50] * 5  # one stream, continuous
    assert s["batches_restamped"] >= 1 and s["clock_synced"]
    assert abs(s["clock_offset_ns"] - (time.time_ns() - EPOCH_1970)) < 60 * NS


def test_without_a_sync_the_grace_runs_out_and_batches_go_unsynced(tmp_path: Path) -> None:
    dev, fake = make(tmp_path, wall_clock=lambda: EPOCH_1970, clock_sync_grace_s=0.3)
    try:
        dev.add_sensor("acc", rate_hz=50.0, channels=3, window=32, hop=32)
        dev.push("acc", signal(64))
        assert dev.flush(WAIT)
    finally:
        dev.close()
    (b,) = batches(fake)
    assert not b.clock_synced and b.windows[0].t0_ns < 2 * EPOCH_1970


def test_a_plausible_rtc_is_not_held_and_later_sync_keeps_app_times(
    device: tuple[Device, FakeTransport],
) -> None:
    dev, fake = device
    dev.push("acc", signal(32), t0=T0)
    assert dev.flush(WAIT)
    (b,) = batches(fake)
    assert not b.clock_synced
    fake.deliver(dev.down_topic, command("t", time_sync=protos.TimeSync()))
    dev.push("acc", signal(32))
    assert dev.flush(WAIT)
    times = [w.t0_ns for b in batches(fake) for w in b.windows]
    assert times == [round(T0 * NS), round(T0 * NS) + 32 * NS // 50]  # app time is the app's
    assert batches(fake)[-1].clock_synced


def test_rtc_jump_during_an_outage_does_not_move_buffered_windows(tmp_path: Path) -> None:
    rtc_jump = [0]
    dev, fake = make(tmp_path, wall_clock=lambda: time.time_ns() + rtc_jump[0])
    try:
        dev.add_sensor("acc", rate_hz=50.0, channels=3, window=32, hop=32)
        fake.deliver(dev.down_topic, command("t", time_sync=protos.TimeSync()))
        dev.push("acc", signal(32))
        assert dev.flush(WAIT)
        fake.disconnect()
        rtc_jump[0] = -3600 * NS  # NTP, a user or a flat battery moves the RTC an hour back
        dev.push("acc", signal(32 * 3, seed=1))
        assert dev.flush(0.3) is False
        fake.connect()
        assert dev.flush(WAIT)
    finally:
        dev.close()
    times = sorted(w.t0_ns for b in batches(fake) for w in b.windows)
    assert np.diff(times).tolist() == [32 * NS // 50] * 3
    assert abs(times[-1] - (time.time_ns() - 32 * NS // 50)) < 2 * NS


@pytest.mark.broker
def test_malformed_downlink_over_a_real_broker_is_nacked_while_streaming(
    tmp_path: Path, mqtt_url: str, unique_tenant: str
) -> None:
    u = protos.MqttUrl.parse(mqtt_url)
    up: list[protos.TelemetryBatch] = []
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5 if u.v5 else mqtt.MQTTv311)

    def on_message(_c: object, _u: object, m: mqtt.MQTTMessage) -> None:
        b = protos.TelemetryBatch()
        b.ParseFromString(m.payload)
        up.append(b)

    sub.on_message = on_message
    sub.connect(u.host, u.port)
    sub.subscribe(f"binhai/v1/{unique_tenant}/pi-1/up", qos=1)
    sub.loop_start()
    dev = Device(
        "pi-1",
        tenant=unique_tenant,
        broker_url=mqtt_url,
        data_dir=tmp_path / "pi",
        batch=BatchPolicy(max_windows=2, max_age_s=0.1),
        offload_policy=FEATURES_ONLY,
        confirm="puback",  # only a broker here, no cloud to confirm
    )
    try:
        dev.add_sensor("acc", rate_hz=50.0, channels=3, window=32, hop=32)
        dev.push("acc", signal(32), t0=T0)
        assert dev.flush(WAIT)  # connected and subscribed
        for k, (_, payload, _) in enumerate(BAD):
            info = sub.publish(dev.down_topic, payload, qos=1)
            info.wait_for_publish(WAIT)
            dev.push("acc", signal(32, seed=k))
        sub.publish(dev.down_topic, command("ok", time_sync=protos.TimeSync()), qos=1)
        wait_until(lambda: dev.stats()["commands_ok"] == 1)
        dev.push("acc", signal(32, seed=77))
        assert dev.flush(WAIT)
        wait_until(lambda: len([a for b in up for a in b.acks]) == len(BAD) + 1)
        s = dev.stats()
    finally:
        dev.close()
        sub.loop_stop()
        sub.disconnect()
    got = [a for b in up for a in b.acks]
    assert [(a.id, a.ok) for a in got] == [(cid, False) for cid, _, _ in BAD] + [("ok", True)]
    assert (s["commands_nacked"], s["commands_ok"]) == (len(BAD), 1)
    assert s["windows"] == len(BAD) + 2
    assert sum(len(b.windows) for b in up) == len(BAD) + 2
