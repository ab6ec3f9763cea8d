"""Bridge quotas: token buckets (pure, with a fake clock) and a flooding device among a normal
fleet on a real broker, bridge, core and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
import uuid

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

import protos
from binhai._audit import wait_stored
from broker_bridge import Bridge, BridgeConfig, Limit, QuotaConfig, Quotas, TenantLimits
from cloud_core import CoreConfig, start_core
from tests.fix_stack import build_batch


def test_bucket_bursts_refuses_and_refills() -> None:
    q = Quotas(QuotaConfig(TenantLimits(device_msgs=Limit(10, burst=5))))
    assert [q.admit("t", "d", 10, 0.0) for _ in range(5)] == [None] * 5
    assert q.admit("t", "d", 10, 0.0) == "device msgs/s"
    assert q.admit("t", "other", 10, 0.0) is None  # each device has its own bucket
    assert q.admit("t", "d", 10, 0.05) == "device msgs/s"  # half a message refilled
    assert q.admit("t", "d", 10, 0.1) is None  # one refilled
    assert q.admit("t", "d", 10, 0.1) == "device msgs/s"
    assert q.limited == 3


def test_bytes_and_tenant_limits_and_overrides() -> None:
    cfg = QuotaConfig(
        TenantLimits(device_bytes=Limit(1000), tenant_msgs=Limit(3)),
        tenants={"big": TenantLimits(tenant_msgs=Limit(100))},
    )
    q = Quotas(cfg)
    assert q.admit("t", "a", 900, 0.0) is None
    assert q.admit("t", "a", 200, 0.0) == "device bytes/s"
    # A refused message takes nothing: the tenant still has 2 messages.
    assert q.admit("t", "b", 10, 0.0) is None and q.admit("t", "c", 10, 0.0) is None
    assert q.admit("t", "d", 10, 0.0) == "tenant msgs/s"
    assert all(q.admit("big", f"d{i}", 5000, 0.0) is None for i in range(50))
    # A payload larger than the burst passes from a full bucket (else it never could).
    assert (
        Quotas(QuotaConfig(TenantLimits(device_bytes=Limit(100)))).admit("t", "x", 500, 0) is None
    )


def test_device_buckets_are_bounded() -> None:
    q = Quotas(QuotaConfig(TenantLimits(device_msgs=Limit(1)), max_devices=3))
    for i in range(10):
        q.admit("t", f"d{i}", 1, 0.0)
    assert len(q._devices) == 3
    with pytest.raises(ValueError):
        Limit(0)


@pytest.mark.db
@pytest.mark.broker
def test_a_flooding_device_is_rate_limited_and_the_fleet_is_stored(
    migrated_dsn: str, mqtt_url: str, unique_tenant: str, run
) -> None:
    fleet = [f"d{i}" for i in range(8)]
    per_device, flood_n = 12, 1500
    url = protos.MqttUrl.parse(mqtt_url)

    def publisher(name: str) -> mqtt.Client:
        c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{name}-{uuid.uuid4().hex[:6]}",
            protocol=mqtt.MQTTv5 if url.v5 else mqtt.MQTTv311,
        )
        c.max_inflight_messages_set(1000)
        c.max_queued_messages_set(0)
        c.connect(url.host, url.port)
        c.loop_start()
        return c

    async def go() -> tuple[Bridge, dict[str, int]]:
        core = await start_core(CoreConfig(dsn=migrated_dsn, listen="127.0.0.1:0"))
        bridge = Bridge(
            BridgeConfig(
                mqtt_url=mqtt_url,
                core_addrs=(f"127.0.0.1:{core.port}",),
                client_id=f"quota-{uuid.uuid4().hex[:6]}",
                share_group=f"quota{uuid.uuid4().hex[:6]}",
                tenant=unique_tenant,
                stored_confirmations=False,
                quotas=QuotaConfig(TenantLimits(device_msgs=Limit(20, burst=20))),
            )
        )
        ready = asyncio.Event()
        task = asyncio.create_task(bridge.run(on_ready=ready.set))
        await asyncio.wait_for(ready.wait(), 20)
        flood, normal = publisher("flood"), publisher("fleet")
        try:
            flood_batches = [
                build_batch(unique_tenant, "flood", s).SerializeToString()
                for s in range(1, flood_n + 1)
            ]
            topic = protos.topic_for(unique_tenant, "flood", "up")
            flood_infos = [flood.publish(topic, p, qos=1) for p in flood_batches]
            # The fleet: each device about 8 batches/s, well within its 20/s, during the flood.
            for s in range(1, per_device + 1):
                for d in fleet:
                    normal.publish(
                        protos.topic_for(unique_tenant, d, "up"),
                        build_batch(unique_tenant, d, s).SerializeToString(),
                        qos=1,
                    )
                await asyncio.sleep(0.12)
            for info in flood_infos:
                await asyncio.to_thread(info.wait_for_publish, 30)
            result = await asyncio.to_thread(
                wait_stored,
                migrated_dsn,
                unique_tenant,
                {d: (1, per_device) for d in fleet},
                timeout=60,
            )
            # Every flood message has reached the core as a batch or a dead letter.
            deadline = time.monotonic() + 60
            while bridge.stats.acked < flood_n + len(fleet) * per_device:
                assert time.monotonic() < deadline, bridge.stats.as_dict()
                await asyncio.sleep(0.1)
        finally:
            for c in (flood, normal):
                c.disconnect()
                c.loop_stop()
            bridge.stop()
            await task
            await core.stop(5)
        return bridge, result

    bridge, result = run(go())
    assert result["lost"] == 0 and result["batches_stored"] == len(fleet) * per_device
    limited = bridge.stats.dead_letters["rate_limited"]
    assert 0 < limited < flood_n
    assert 'binhai_bridge_dead_letters_total{reason="rate_limited"}' in bridge.render_metrics()
    with psycopg.connect(migrated_dsn) as conn:
        rows = conn.execute(
            "SELECT device_id, count(*), min(payload_size), max(length(payload)) FROM dead_letters"
            " WHERE tenant = %s AND reason LIKE 'rate_limited%%' GROUP BY device_id",
            (unique_tenant,),
        ).fetchall()
        stored_flood = conn.execute(
            "SELECT count(*) FROM batches WHERE tenant = %s AND device_id = 'flood'",
            (unique_tenant,),
        ).fetchone()
    assert rows == [("flood", limited, rows[0][2], 0)] and rows[0][2] > 0
    assert stored_flood is not None and stored_flood[0] + limited == flood_n


def test_cli_quota_options() -> None:
    from click.testing import CliRunner

    from binhai.cli import cli
    from binhai.cli.bridge import parse_quotas

    none = dict.fromkeys(("device_msgs", "device_bytes", "tenant_msgs", "tenant_bytes"))
    cfg = parse_quotas({**none, "device_msgs": 5.0}, ("acme:tenant_bytes=1e6,device_msgs=50",))
    assert cfg.default.device_msgs == Limit(5.0)
    assert cfg.limits("acme") == TenantLimits(device_msgs=Limit(50), tenant_bytes=Limit(1e6))
    assert not parse_quotas(none, ()).enabled
    for bad in (
        ["--tenant-quota", "acme:nope=1"],
        ["--tenant-quota", "a/b:device_msgs=1"],
        ["--device-msgs-per-s", "0"],
    ):
        res = CliRunner().invoke(cli, ["bridge", "run", *bad])
        assert res.exit_code == 2 and "Error:" in res.output, res.output
