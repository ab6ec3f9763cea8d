"""The bridge's paho adapter: subscribe with manual acks, publish downlinks, hand off to asyncio.

paho's callbacks run on its network thread and only hand off: a message goes into a bounded
:class:`Handoff` (the network thread waits while it is full — backpressure to the broker, on
top of MQTT 5's Receive Maximum), connection changes bump an epoch, a downlink's PUBACK releases
its in-flight slot on the loop. Acks and publishes are sent from the event loop.

The epoch is bumped when a connection drops (before paho reconnects: its reconnect also
discards packets queued for the old socket) and when one is made, and an ack compares the epoch
and queues its PUBACK under one lock: a PUBACK never reaches a newer connection, where its packet
id may name another message.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

import protos
from broker_bridge._acks import Incoming
from broker_bridge._errors import BrokerError
from broker_bridge._handoff import Handoff

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 24 * 3600


@dataclass(frozen=True, slots=True)
class TlsFiles:
    ca: str | None = None
    cert: str | None = None
    key: str | None = None


class MqttSource:
    """One MQTT connection feeding ``queue`` with :class:`Incoming` messages."""

    def __init__(
        self,
        url: protos.MqttUrl,
        inbox: Handoff[Incoming],
        loop: asyncio.AbstractEventLoop,
        *,
        client_id: str,
        share_group: str | None,
        receive_maximum: int,
        tenant: str = "+",
        tls: TlsFiles | None = None,
        max_downlinks: int = 100,
    ) -> None:
        self.url = url
        self._inbox = inbox
        self._loop = loop
        # Downlinks published but not yet acknowledged by the broker.
        self.downlink_slots = asyncio.Semaphore(max_downlinks)
        self._share = share_group if url.v5 else None
        self._tenant = tenant
        self._stopping = threading.Event()
        self._epoch_lock = threading.Lock()
        self.epoch = 0
        self.connected = asyncio.Event()
        self.subscribed = asyncio.Event()
        self.connect_failures = 0
        proto = mqtt.MQTTv5 if url.v5 else mqtt.MQTTv311
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"binhai-bridge-{uuid.uuid4().hex[:8]}",
            protocol=proto,
            clean_session=None if url.v5 else False,
            reconnect_on_failure=True,
        )
        self._client.manual_ack_set(True)
        # Re-subscribe fast after a broker restart: mosquitto 2.0 does not restore shared
        # subscriptions, and devices publishing before the bridges are back reach no one.
        self._client.reconnect_delay_set(0.2, 5)  # type: ignore[arg-type]
        if url.username:
            self._client.username_pw_set(url.username, url.password)
        if url.tls:
            t = tls or TlsFiles()
            self._client.tls_set(
                ca_certs=t.ca, certfile=t.cert, keyfile=t.key, cert_reqs=ssl.CERT_REQUIRED
            )
        self._receive_maximum = receive_maximum
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self._client.on_publish = self._on_publish

    def filters(self) -> list[str]:
        return [
            protos.subscription(k, tenant=self._tenant, share_group=self._share)
            for k in ("up", "status")
        ]

    def start(self) -> None:
        props = None
        if self.url.v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = SESSION_EXPIRY_S
            props.ReceiveMaximum = self._receive_maximum
        self._client.connect_async(
            self.url.host,
            self.url.port,
            keepalive=15,
            clean_start=False if self.url.v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
            properties=props,
        )
        self._client.loop_start()

    def pause(self) -> None:
        """Stop receiving new messages (unsubscribe); in-flight ones can still be acked."""
        if self._client.is_connected():
            self._client.unsubscribe(self.filters())

    def stop(self) -> None:
        self._stopping.set()
        self._inbox.close()
        self._client.disconnect()
        self._client.loop_stop()

    def ack(self, msg: Incoming) -> bool:
        """Send the PUBACK for ``msg`` if it belongs to the current connection."""
        if msg.qos == 0:
            return False
        with self._epoch_lock:
            if msg.epoch != self.epoch:
                return False
            self._client.ack(msg.mid, msg.qos)
        return True

    def publish_now(self, topic: str, payload: bytes) -> bool:
        """Publish QoS0 at once (no in-flight slot); False when not connected. For messages
        whose loss only delays something (the end-to-end acknowledgements)."""
        info = self._client.publish(topic, payload, qos=0)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    async def publish(self, topic: str, payload: bytes) -> None:
        """Publish QoS1 once an in-flight slot is free; paho resends it after a reconnect."""
        await self.downlink_slots.acquire()
        info = self._client.publish(topic, payload, qos=1)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            self.downlink_slots.release()
            raise BrokerError(
                f"publish to {topic!r} refused: {mqtt.error_string(info.rc)}", reason_code=info.rc
            )

    # -- paho callbacks: hand off only --------------------------------------------------------

    def _on_connect(
        self, client: mqtt.Client, _u: object, _f: object, rc: object, _p: object
    ) -> None:
        if getattr(rc, "is_failure", False):
            self.connect_failures += 1
            log.warning("broker refused connection: %s", rc)
            return
        with self._epoch_lock:
            self.epoch += 1
        client.subscribe([(f, 1) for f in self.filters()])
        self._loop.call_soon_threadsafe(self.connected.set)
        log.info("connected to %s (epoch %d)", self.url, self.epoch)

    def _on_subscribe(self, _c: Any, _u: Any, _mid: Any, rcs: Any, _p: Any) -> None:
        failed = [rc for rc in rcs if getattr(rc, "is_failure", False)]
        if failed:
            log.error("broker refused subscriptions %s: %s", self.filters(), failed)
            return
        self._loop.call_soon_threadsafe(self.subscribed.set)

    def _on_disconnect(self, _c: object, _u: object, _f: object, rc: object, _p: object) -> None:
        with self._epoch_lock:
            self.epoch += 1  # acks of the lost connection's messages are never sent
        self._loop.call_soon_threadsafe(self.connected.clear)
        if not self._stopping.is_set():
            log.warning("disconnected from broker: %s; reconnecting", rc)

    def _on_publish(self, _c: object, _u: object, _mid: int, _rc: object, _p: object) -> None:
        self._loop.call_soon_threadsafe(self.downlink_slots.release)

    def _on_message(self, _c: object, _u: object, m: mqtt.MQTTMessage) -> None:
        payload = bytes(m.payload)
        self._inbox.put(Incoming(m.mid, m.qos, m.topic, payload, self.epoch, time.time_ns()))
