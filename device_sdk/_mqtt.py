"""MqttTransport: the device's paho-mqtt adapter (MQTT 5, QoS1, persistent session).

paho callbacks only hand off to the device's events; paho owns (re)delivery of what it was given
until the PUBACK, across reconnects. A PUBACK's failure reason goes to the device as
``"0x87 Not authorized"`` (the MQTT 5 reason code first), so it can tell a permanent refusal
from a transient one. Configuration is checked when the transport is made — the broker URL, and
the TLS files loaded into an ``SSLContext`` — so a device fails with :class:`ConfigError` before
it opens anything. Reconnects follow :func:`device_sdk._backoff.reconnect_delay`
(exponential backoff, full jitter, the first attempt after a drop spread over
``reconnect_spread_s``), so a fleet does not stampede a restarted broker.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

import protos
from device_sdk._backoff import reconnect_delay
from device_sdk._errors import ConfigError
from device_sdk._transport import TransportEvents

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MqttOptions:
    """Connection options; ``session_expiry_s`` keeps QoS1 state on the broker across reconnects.

    Reconnects: the first attempt after a drop waits ``uniform(0, reconnect_spread_s)``, attempt
    ``k`` after that ``uniform(0, min(backoff_max_s, max(reconnect_spread_s, backoff_min_s)
    * 2**k))``. TLS (``mqtts://`` URLs): ``ca_file`` (default: the system store), and
    ``cert_file``/``key_file`` for client-certificate authentication. ``username`` and
    ``password`` (instead of credentials in the URL; they take precedence over it) for
    password authentication; the password is never shown in a repr or a log line.
    """

    keepalive_s: int = 30
    session_expiry_s: int = 24 * 3600
    max_inflight: int = 32
    backoff_min_s: float = 1.0
    backoff_max_s: float = 30.0
    reconnect_spread_s: float = 10.0
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)


class MqttTransport:
    def __init__(self, broker_url: str, options: MqttOptions = MqttOptions()) -> None:
        try:
            self.url = protos.MqttUrl.parse(broker_url)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        if options.password is not None and not options.username:
            raise ConfigError("MqttOptions.password given without a username")
        self.options = options
        self._tls = _tls_context(options) if self.url.tls else None
        self._client: mqtt.Client | None = None
        self._events: TransportEvents | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._attempt = 0
        # The most recent waits and connection attempts (monotonic s), for tests and benchmarks.
        self.reconnect_delays: deque[float] = deque(maxlen=256)
        self.attempt_times: deque[float] = deque(maxlen=256)

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.is_connected()

    def start(
        self, events: TransportEvents, *, client_id: str, will_topic: str, will_payload: bytes
    ) -> None:
        u, o = self.url, self.options
        c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5 if u.v5 else mqtt.MQTTv311,
            clean_session=None if u.v5 else False,
            reconnect_on_failure=False,  # we reconnect ourselves, with jitter
        )
        if o.username:
            c.username_pw_set(o.username, o.password)
        elif u.username:
            c.username_pw_set(u.username, u.password)
        if self._tls is not None:
            c.tls_set_context(self._tls)
        c.will_set(will_topic, will_payload, qos=1, retain=True)
        c.max_inflight_messages_set(o.max_inflight)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_publish
        c.on_message = self._on_message
        self._client, self._events = c, events
        props = None
        if u.v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = o.session_expiry_s
        # Only records the parameters; the network thread connects.
        c.connect_async(
            u.host,
            u.port,
            keepalive=o.keepalive_s,
            clean_start=False if u.v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
            properties=props,
        )
        self._thread = threading.Thread(target=self._run, name=f"mqtt-{client_id}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        """Connect, run paho's loop until the connection drops, back off, repeat."""
        c = self._client
        assert c is not None
        while not self._stopping.is_set():
            self.attempt_times.append(time.monotonic())
            try:
                c.reconnect()
            except (OSError, ValueError) as exc:
                log.debug("connect to %s failed: %s", self.url, exc)
            else:
                c.loop_forever()
            if self._stopping.is_set():
                break
            self._stopping.wait(self._next_delay())

    def _next_delay(self) -> float:
        o = self.options
        delay = reconnect_delay(
            self._attempt,
            min_s=o.backoff_min_s,
            max_s=o.backoff_max_s,
            spread_s=o.reconnect_spread_s,
        )
        self._attempt += 1
        self.reconnect_delays.append(delay)
        return delay

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> int:
        """Queue a publish; raises OSError when the client refuses it (the device backs off)."""
        assert self._client is not None
        try:
            info = self._client.publish(topic, payload, qos=qos, retain=retain)
        except ValueError as exc:  # paho: payload too large, bad topic
            raise OSError(f"publish refused by the client: {exc}") from exc
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            raise OSError(f"publish refused by the client: {mqtt.error_string(info.rc)}")
        return int(info.mid)

    def subscribe(self, topic: str, qos: int = 1) -> None:
        assert self._client is not None
        self._client.subscribe(topic, qos)

    def stop(self, *, final_topic: str | None = None, final_payload: bytes = b"") -> None:
        c = self._client
        if c is None:
            return
        if final_topic is not None and c.is_connected():
            info = c.publish(final_topic, final_payload, qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=2.0)
            except (RuntimeError, ValueError) as exc:
                log.debug("final status not confirmed: %s", exc)
        self._stopping.set()
        c.disconnect()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- paho callbacks: hand off only ------------------------------------------------------

    def _on_connect(self, _c: object, _u: object, _f: object, rc: object, _p: object) -> None:
        if getattr(rc, "is_failure", False):
            log.warning("broker refused connection: %s", rc)
            return
        self._attempt = 0
        assert self._events is not None
        self._events.on_connected()

    def _on_disconnect(self, _c: object, _u: object, _f: object, rc: object, _p: object) -> None:
        assert self._events is not None
        self._events.on_disconnected(str(rc))

    def _on_publish(self, _c: object, _u: object, mid: int, rc: object, _p: object) -> None:
        assert self._events is not None
        failed = bool(getattr(rc, "is_failure", False))
        reason = f"0x{int(getattr(rc, 'value', 0x80)):02x} {rc}" if failed else ""
        self._events.on_published(mid, not failed, reason)

    def _on_message(self, _c: object, _u: object, m: mqtt.MQTTMessage) -> None:
        assert self._events is not None
        self._events.on_message(m.topic, bytes(m.payload))


def _tls_context(o: MqttOptions) -> ssl.SSLContext:
    """The TLS context of ``o``'s files, loaded now; :class:`ConfigError` when they are not
    usable (missing, unreadable, not a certificate, key not matching)."""
    try:
        ctx = ssl.create_default_context(cafile=o.ca_file)
        if o.cert_file or o.key_file:
            if not o.cert_file:
                raise ConfigError("key_file given without cert_file")
            ctx.load_cert_chain(o.cert_file, o.key_file)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise ConfigError(f"TLS files unusable: {exc}") from exc
    return ctx
