"""The embedded services really start, serve clients, restart on the same port and report errors."""

from __future__ import annotations

import queue
import re
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from binhai._embedded import (
    BrokerKind,
    EmbeddedBroker,
    EmbeddedError,
    find_mosquitto,
    free_port,
    probe_mqtt,
    start_broker,
    start_postgres,
)
from protos._mqtt_url import MqttUrl
from tests.fix_services import postgres_workdir, tenant_for, with_dbname

WAIT = 5.0  # seconds for one message to arrive

needs_mosquitto = pytest.mark.skipif(find_mosquitto() is None, reason="mosquitto not installed")
BROKER_KINDS = [pytest.param("mosquitto", marks=needs_mosquitto), "amqtt"]


class Peer:
    """A paho client on its own loop thread whose messages land in a bounded queue."""

    def __init__(self, url: str, client_id: str, *, clean: bool = True, manual_ack: bool = False):
        self.address = MqttUrl.parse(url)
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue(maxsize=1000)
        if self.address.v5:
            self.client = mqtt.Client(
                CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
            )
        else:
            self.client = mqtt.Client(
                CallbackAPIVersion.VERSION2,
                client_id=client_id,
                protocol=mqtt.MQTTv311,
                clean_session=clean,
            )
        self.client.manual_ack_set(manual_ack)
        self.client.on_message = lambda _client, _userdata, message: self.messages.put_nowait(
            message
        )
        if self.address.v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 0 if clean else 3600
            rc = self.client.connect(
                self.address.host, self.address.port, clean_start=clean, properties=props
            )
        else:
            rc = self.client.connect(self.address.host, self.address.port)
        assert rc == mqtt.MQTT_ERR_SUCCESS
        self.client.loop_start()

    def subscribe(self, topic: str) -> None:
        result, _mid = self.client.subscribe(topic, qos=1)
        assert result == mqtt.MQTT_ERR_SUCCESS
        time.sleep(0.2)  # let the SUBACK arrive before anything is published

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(WAIT)
        assert info.is_published()

    def receive(self, timeout: float = WAIT) -> mqtt.MQTTMessage:
        return self.messages.get(timeout=timeout)

    def nothing_more(self, wait: float = 0.5) -> bool:
        try:
            self.messages.get(timeout=wait)
        except queue.Empty:
            return True
        return False

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def brokers(tmp_path: Path) -> Iterator[Callable[..., EmbeddedBroker]]:
    """Start brokers in ``tmp_path``; each is stopped at teardown (after ``peers`` closed)."""
    started: list[EmbeddedBroker] = []

    def start(kind: BrokerKind, **options: Any) -> EmbeddedBroker:
        broker = start_broker(tmp_path / f"broker-{len(started)}", prefer=kind, **options)
        started.append(broker)
        return broker

    yield start
    for broker in started:
        broker.stop()


@pytest.fixture
def peers(brokers: Callable[..., EmbeddedBroker]) -> Iterator[list[Peer]]:
    """Clients to close at teardown, while their broker still runs (no reconnect back-off)."""
    made: list[Peer] = []
    yield made
    for peer in made:
        peer.close()


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = n >> 7, n & 0x7F
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def connect_with_will(
    host: str, port: int, client_id: str, topic: str, payload: bytes
) -> socket.socket:
    """Connect with a retained QoS1 will using raw MQTT 3.1.1, so the test can drop the socket."""

    def field(data: bytes) -> bytes:
        return len(data).to_bytes(2, "big") + data

    flags = 0x02 | 0x04 | 0x08 | 0x20  # clean session, will, will QoS 1, will retain
    body = field(b"MQTT") + bytes([4, flags]) + (60).to_bytes(2, "big")
    body += field(client_id.encode()) + field(topic.encode()) + field(payload)
    sock = socket.create_connection((host, port), timeout=WAIT)
    sock.sendall(b"\x10" + _remaining_length(len(body)) + body)
    assert sock.recv(4) == b"\x20\x02\x00\x00"
    return sock


@pytest.mark.broker
@pytest.mark.parametrize("kind", BROKER_KINDS)
def test_broker_serves_qos1_retained_will_and_manual_ack(
    kind: BrokerKind, brokers: Callable[..., EmbeddedBroker], peers: list[Peer], unique_tenant: str
) -> None:
    base = f"binhai/v1/{unique_tenant}/dev-1"
    broker = brokers(kind)
    assert broker.kind == kind and broker.running
    assert MqttUrl.parse(broker.url).v5 is (kind == "mosquitto")
    assert probe_mqtt(broker.host, broker.port)

    subscriber = Peer(broker.url, f"{unique_tenant}-sub", manual_ack=True)
    publisher = Peer(broker.url, f"{unique_tenant}-pub")
    peers += [subscriber, publisher]
    subscriber.subscribe(f"{base}/up")
    publisher.publish(f"{base}/up", b"batch-1")
    message = subscriber.receive()
    assert (message.topic, message.payload, message.qos) == (f"{base}/up", b"batch-1", 1)
    assert subscriber.client.ack(message.mid, message.qos) == mqtt.MQTT_ERR_SUCCESS

    publisher.publish(f"{base}/status", b"online", retain=True)
    watcher = Peer(broker.url, f"{unique_tenant}-watch")
    peers.append(watcher)
    watcher.subscribe(f"{base}/status")
    retained = watcher.receive()
    assert (retained.payload, retained.retain) == (b"online", True)

    device = connect_with_will(
        broker.host, broker.port, f"{unique_tenant}-dev", f"{base}/status", b"offline"
    )
    device.close()  # connection lost without DISCONNECT: the broker publishes the will
    assert watcher.receive().payload == b"offline"


@pytest.mark.broker
@pytest.mark.parametrize("kind", BROKER_KINDS)
def test_broker_queues_for_offline_persistent_session(
    kind: BrokerKind, brokers: Callable[..., EmbeddedBroker], peers: list[Peer], unique_tenant: str
) -> None:
    topic = f"binhai/v1/{unique_tenant}/dev-1/down"
    url = brokers(kind).url
    device = Peer(url, f"{unique_tenant}-dev", clean=False)
    device.subscribe(topic)
    device.close()
    publisher = Peer(url, f"{unique_tenant}-pub")
    peers.append(publisher)
    for i in range(5):
        publisher.publish(topic, f"policy-{i}".encode())

    device = Peer(url, f"{unique_tenant}-dev", clean=False)
    peers.append(device)
    assert [device.receive().payload for _ in range(5)] == [
        f"policy-{i}".encode() for i in range(5)
    ]
    assert device.nothing_more()


@pytest.mark.broker
@needs_mosquitto
def test_mosquitto_restart_keeps_port_sessions_and_retained(
    brokers: Callable[..., EmbeddedBroker], peers: list[Peer], unique_tenant: str
) -> None:
    base = f"binhai/v1/{unique_tenant}/dev-1"
    broker = brokers("mosquitto")
    url, port = broker.url, broker.port
    bridge = Peer(url, f"{unique_tenant}-bridge", clean=False, manual_ack=True)
    bridge.subscribe(f"{base}/up")
    publisher = Peer(url, f"{unique_tenant}-pub")
    publisher.publish(f"{base}/status", b"online", retain=True)
    publisher.publish(f"{base}/up", b"unacked")
    assert bridge.receive().payload == b"unacked"  # delivered, never acked
    publisher.close()
    bridge.close()

    broker.restart()
    assert (broker.url, broker.port, broker.running) == (url, port, True)

    bridge = Peer(url, f"{unique_tenant}-bridge", clean=False, manual_ack=True)
    watcher = Peer(url, f"{unique_tenant}-watch")
    peers += [bridge, watcher]
    redelivered = bridge.receive()
    assert (redelivered.payload, redelivered.dup) == (b"unacked", True)
    bridge.client.ack(redelivered.mid, redelivered.qos)
    watcher.subscribe(f"{base}/status")
    assert watcher.receive().payload == b"online"


@pytest.mark.broker
def test_amqtt_restart_keeps_port_but_forgets_state(
    brokers: Callable[..., EmbeddedBroker], peers: list[Peer], unique_tenant: str
) -> None:
    topic = f"binhai/v1/{unique_tenant}/dev-1/status"
    broker = brokers("amqtt")
    url = broker.url
    publisher = Peer(url, f"{unique_tenant}-pub")
    publisher.publish(topic, b"online", retain=True)
    publisher.close()

    broker.restart()
    assert broker.url == url and probe_mqtt(broker.host, broker.port)

    watcher = Peer(url, f"{unique_tenant}-watch")
    peers.append(watcher)
    watcher.subscribe(topic)
    assert watcher.nothing_more(), "amqtt keeps retained messages in memory only"


@pytest.mark.broker
@pytest.mark.parametrize("kind", BROKER_KINDS)
def test_stopped_broker_refuses_clients(
    kind: BrokerKind, brokers: Callable[..., EmbeddedBroker]
) -> None:
    with brokers(kind) as broker:
        assert broker.running
    assert not broker.running and not probe_mqtt(broker.host, broker.port)
    broker.stop()  # idempotent


@pytest.mark.broker
@pytest.mark.parametrize("kind", BROKER_KINDS)
def test_broker_on_a_taken_port_raises_with_the_reason(kind: BrokerKind, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(EmbeddedError) as caught:
            start_broker(tmp_path, port=port, prefer=kind, timeout=3)
    assert caught.value.service == kind
    assert re.search(r"address already in use|errno 98", str(caught.value), re.IGNORECASE)


def test_start_broker_rejects_unknown_preference(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="prefer"):
        start_broker(tmp_path, prefer="hivemq")  # type: ignore[arg-type]


def test_probe_mqtt_is_false_where_nothing_listens() -> None:
    assert not probe_mqtt("127.0.0.1", free_port(), timeout=0.2)


@pytest.mark.broker
def test_embedded_broker_fixture_survives_restart(embedded_broker: EmbeddedBroker) -> None:
    port = embedded_broker.port
    embedded_broker.stop()
    assert not probe_mqtt(embedded_broker.host, port)
    embedded_broker.start()
    assert embedded_broker.port == port and probe_mqtt(embedded_broker.host, port)


@pytest.mark.db
@pytest.mark.slow
def test_embedded_postgres_serves_queries_and_keeps_data(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with postgres_workdir(tmp_path_factory) as workdir:
        check_postgres_keeps_data(workdir)


def check_postgres_keeps_data(workdir: Path) -> None:
    with start_postgres(workdir) as server:
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            assert conn.execute("SELECT current_user").fetchone() == ("postgres",)
            conn.execute("CREATE DATABASE binhai_embedded")
        with psycopg.connect(with_dbname(server.dsn, "binhai_embedded")) as conn:
            conn.execute("CREATE TABLE seen (device text, seq bigint, PRIMARY KEY (device, seq))")
            conn.execute("INSERT INTO seen VALUES ('dev-1', 1), ('dev-1', 2)")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(server.dsn, connect_timeout=2).close()

    with (
        start_postgres(workdir) as server,
        psycopg.connect(with_dbname(server.dsn, "binhai_embedded")) as conn,
    ):
        assert conn.execute("SELECT count(*) FROM seen").fetchone() == (2,)


@pytest.mark.db
def test_pg_dsn_is_a_private_database(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn) as conn:
        row = conn.execute("SELECT current_database()").fetchone()
    assert row is not None and row[0].startswith("binhai_test_")


@pytest.mark.broker
def test_mqtt_url_accepts_clients(mqtt_url: str, peers: list[Peer], unique_tenant: str) -> None:
    topic = f"binhai/v1/{unique_tenant}/dev-1/up"
    peer = Peer(mqtt_url, f"{unique_tenant}-echo")
    peers.append(peer)
    peer.subscribe(topic)
    peer.publish(topic, b"echo")
    assert peer.receive().payload == b"echo"


def test_unique_tenant_is_valid_and_unique(unique_tenant: str) -> None:
    assert re.fullmatch(r"t-test_unique_tenant_is_valid_and_unique-[0-9a-f]{6}", unique_tenant)
    odd = tenant_for("test_x[ünïcode / spaces-" + "y" * 300 + "]")
    assert re.fullmatch(r"[A-Za-z0-9_.:-]{1,128}", odd) and odd.startswith("t-test_x-")
    assert tenant_for("same") != tenant_for("same")
