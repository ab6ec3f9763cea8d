"""End to end on real services: simulated devices -> broker -> bridge -> core -> PostgreSQL."""

from __future__ import annotations

import threading
import time

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

import protos
from binhai._audit import wait_stored
from firmware_sim import Fleet, FleetConfig
from tests.fix_stack import build_batch

pytestmark = [pytest.mark.db, pytest.mark.broker, pytest.mark.slow]


def _fleet(tmp_path, mqtt_url, tenant, **kw) -> Fleet:
    cfg = FleetConfig(tenant=tenant, broker_url=mqtt_url, data_dir=tmp_path / "devices", **kw)
    return Fleet(cfg)


def test_twenty_devices_every_batch_stored_exactly_once(
    stack, tmp_path, mqtt_url, migrated_dsn, unique_tenant
):
    stack()
    report = _fleet(tmp_path, mqtt_url, unique_tenant, devices=20, duration_s=20, speed=4).run()
    result = wait_stored(migrated_dsn, unique_tenant, report.seq_ranges, timeout=60)
    windows = sum(s["windows"] for s in report.per_device.values())
    assert windows >= 20 * 7  # 20 s at 50 Hz, windows of 128 (the simulator does not overlap them)
    assert result["lost"] == 0 and result["duplicates"] == 0
    assert result["batches_stored"] == report.batches_sent
    assert (
        result["samples_stored"] == sum(s["windows"] for s in report.per_device.values()) * 128 * 3
    )


def test_bridge_sigkill_midstream_loses_and_duplicates_nothing(
    stack, tmp_path, mqtt_url, migrated_dsn, unique_tenant
):
    st = stack()
    fleet = _fleet(tmp_path, mqtt_url, unique_tenant, devices=20, duration_s=24, speed=3)
    reports = []
    runner = threading.Thread(target=lambda: reports.append(fleet.run()))
    runner.start()
    time.sleep(2.5)
    st.kill("bridge-0")  # SIGKILL: unacked messages stay with the broker session
    time.sleep(2.0)
    st.start_proc("bridge-0")
    runner.join(timeout=120)
    (report,) = reports
    result = wait_stored(migrated_dsn, unique_tenant, report.seq_ranges, timeout=60)
    assert result["lost"] == 0 and result["duplicates"] == 0
    assert result["batches_stored"] == report.batches_sent >= 20


def _publish_all(url: str, messages: list[tuple[str, bytes]]) -> None:
    u = protos.MqttUrl.parse(url)
    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5 if u.v5 else mqtt.MQTTv311)
    c.connect(u.host, u.port)
    c.loop_start()
    try:
        infos = [c.publish(t, p, qos=1) for t, p in messages]
        for info in infos:
            info.wait_for_publish(timeout=10)
    finally:
        c.disconnect()
        c.loop_stop()


def test_bad_input_is_dead_lettered_with_reasons_and_never_stops_the_pipeline(
    stack, mqtt_url, migrated_dsn, unique_tenant
):
    st = stack()
    t = unique_tenant
    mismatch = build_batch(t, "other-device", 1).SerializeToString()
    bad = [
        (f"binhai/v1/{t}/d1/up", b"\xff\xfe not protobuf"),
        (f"binhai/v1/{t}/d1/up", b"\x00" * (2 << 20)),
        (f"binhai/v1/{t}/d1/up", mismatch),
        (f"binhai/v1/{t}/bad id!/up", build_batch(t, "d1", 2).SerializeToString()),
        (f"binhai/v1/{t}/d1/status", b"maybe"),
    ]
    good = [
        (f"binhai/v1/{t}/d1/up", build_batch(t, "d1", s).SerializeToString()) for s in (1, 2, 3)
    ]
    _publish_all(mqtt_url, bad + good)
    deadline = time.monotonic() + 30
    with psycopg.connect(migrated_dsn, autocommit=True) as conn:
        while True:
            reasons = [
                r[0]
                for r in conn.execute(
                    "SELECT reason FROM dead_letters WHERE tenant = %s ORDER BY id", (t,)
                )
            ]
            stored = conn.execute("SELECT count(*) FROM batches WHERE tenant = %s", (t,)).fetchone()
            if (
                len(reasons) >= len(bad) and stored and stored[0] == 3
            ) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    assert stored is not None and stored[0] == 3
    joined = " | ".join(reasons)
    assert len(reasons) == len(bad), joined
    for needle in ("undecodable", "oversize", "identity mismatch", "bad topic", "status"):
        assert needle in joined
    assert st.procs["bridge-0"].alive and st.procs["core-0"].alive
