"""The Control service: commands stored, handed to a bridge, published on the down topic."""

from __future__ import annotations

import queue
import time

import grpc
import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

import protos
from cloud_core import CoreConfig, start_core

pytestmark = [pytest.mark.db, pytest.mark.broker]


class DownSubscriber:
    """Collects Commands published on one device's down topic."""

    def __init__(self, url: str, tenant: str, device_id: str) -> None:
        u = protos.MqttUrl.parse(url)
        self.received: queue.Queue[protos.Command] = queue.Queue()
        self._c = mqtt.Client(
            CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5 if u.v5 else mqtt.MQTTv311
        )
        self._c.on_message = lambda _c, _u, m: self.received.put(
            protos.Command.FromString(m.payload)
        )
        subscribed = queue.Queue[bool]()
        self._c.on_subscribe = lambda *_: subscribed.put(True)
        self._c.connect(u.host, u.port)
        self._c.subscribe(protos.topic_for(tenant, device_id, "down"), qos=1)
        self._c.loop_start()
        subscribed.get(timeout=10)

    def next(self, timeout: float = 15) -> protos.Command:
        return self.received.get(timeout=timeout)

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        self._c.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)

    def close(self) -> None:
        self._c.disconnect()
        self._c.loop_stop()


def _command_row(dsn: str, command_id: str) -> tuple[object, ...] | None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(
            "SELECT tenant, device_id, kind, body, sent_at IS NOT NULL FROM commands WHERE id = %s",
            (command_id,),
        ).fetchone()


def wait_bridges(st, core: str = "core-0", n: int = 1, timeout: float = 15) -> None:
    """Wait until ``n`` bridges hold a Downlinks stream to ``core`` (its metrics say so)."""
    deadline = time.monotonic() + timeout
    while st.metrics(core)["binhai_core_bridges_connected"] < n:
        assert time.monotonic() < deadline, f"{core}: fewer than {n} bridges connected"
        time.sleep(0.1)


def test_send_command_is_stored_and_published_on_the_down_topic(
    stack, mqtt_url, migrated_dsn, unique_tenant
):
    st = stack()
    wait_bridges(st)
    sub = DownSubscriber(mqtt_url, unique_tenant, "d1")
    try:
        cmd = protos.Command(policy=protos.Policy(novelty_threshold=0.8, explicit=["window"]))
        with grpc.insecure_channel(st.core_addrs[0]) as ch:
            reply = protos.control_pb2_grpc.ControlStub(ch).SendCommand(
                protos.SendCommandRequest(tenant=unique_tenant, device_id="d1", command=cmd)
            )
        got = sub.next()
    finally:
        sub.close()
    assert reply.bridges == 1 and reply.id
    assert got.id == reply.id
    assert got.WhichOneof("body") == "policy" and got.policy.explicit == ["window"]
    assert abs(got.issued_at_ns - time.time_ns()) < 60 * 10**9
    row = _command_row(migrated_dsn, reply.id)
    assert row is not None
    tenant, device, kind, body, sent = row
    assert (tenant, device, kind, sent) == (unique_tenant, "d1", "policy", True)
    assert protos.Command.FromString(bytes(body)) == got  # type: ignore[arg-type]
    metrics = st.metrics("bridge-0")
    assert metrics["binhai_bridge_downlinks_published_total"] >= 1
    assert st.metrics("core-0")["binhai_core_bridges_connected"] == 1


def test_a_device_coming_online_is_sent_a_time_sync(stack, mqtt_url, unique_tenant):
    st = stack()
    wait_bridges(st)
    sub = DownSubscriber(mqtt_url, unique_tenant, "d7")
    try:
        before = time.time_ns()
        sub.publish(protos.topic_for(unique_tenant, "d7", "status"), protos.STATUS_ONLINE)
        got = sub.next()
    finally:
        sub.close()
    assert got.WhichOneof("body") == "time_sync"
    assert before - 10**9 <= got.issued_at_ns <= time.time_ns()


def test_without_bridges_a_command_is_stored_unsent_and_bad_ids_are_refused(
    migrated_dsn, unique_tenant, run
):
    async def go():
        core = await start_core(CoreConfig(dsn=migrated_dsn, listen="127.0.0.1:0"))
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{core.port}") as ch:
                stub = protos.control_pb2_grpc.ControlStub(ch)
                reply = await stub.SendCommand(
                    protos.SendCommandRequest(
                        tenant=unique_tenant,
                        device_id="d1",
                        command=protos.Command(id="c-1", reset_counters=protos.ResetCounters()),
                    )
                )
                with pytest.raises(grpc.aio.AioRpcError) as bad:
                    await stub.SendCommand(
                        protos.SendCommandRequest(tenant=unique_tenant, device_id="bad id!")
                    )
            return reply, bad.value.code(), core.metrics.commands_undelivered
        finally:
            await core.stop(5)

    reply, code, undelivered = run(go())
    assert (reply.id, reply.bridges) == ("c-1", 0)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert undelivered == 1
    row = _command_row(migrated_dsn, "c-1")
    assert row is not None and row[2] == "reset_counters" and row[4] is False
