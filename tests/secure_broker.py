"""Helpers for tests against a mosquitto configured by ``binhai broker config``.

:class:`SecureBroker` provisions identities through the real CLI (``binhai device provision``,
``binhai broker bridge-user``, ``binhai broker config``) in a private data directory and runs
mosquitto with that configuration on free ports; :class:`Peer` is a small paho client that
records its CONNACK, SUBACKs and messages.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from click.testing import CliRunner
from paho.mqtt.enums import CallbackAPIVersion

from binhai._embedded import free_port
from binhai._embedded._mosquitto import MosquittoProcess, find_mosquitto
from binhai._security import BrokerOptions, Layout, render_security
from binhai.cli import cli

HOST = "127.0.0.1"


def invoke(data_dir: Path, *args: str) -> dict[str, Any]:
    """Run ``binhai ARGS --json`` with ``BINHAI_DATA_DIR``; return its JSON (must exit 0)."""
    res = CliRunner().invoke(cli, [*args, "--json"], env={"BINHAI_DATA_DIR": str(data_dir)})
    assert res.exit_code == 0, (args, res.output, res.exception)
    out: dict[str, Any] = json.loads(res.output.strip().splitlines()[-1])
    return out


class SecureBroker:
    """CA, identities and a mosquitto with the generated configuration, in ``root``."""

    def __init__(self, root: Path) -> None:
        exe = find_mosquitto()
        assert exe is not None
        self.data_dir = root / "data"
        self.layout = Layout(self.data_dir)
        self.port = free_port()
        self.mtls_port = free_port()
        invoke(self.data_dir, "ca", "init")
        self.options = BrokerOptions(
            listen=f"{HOST}:{self.port}", mtls_listen=f"{HOST}:{self.mtls_port}"
        )
        self.process: MosquittoProcess | None = None
        self._exe = exe
        self._workdir = root / "mosquitto"

    def config(self) -> dict[str, Any]:
        return invoke(
            self.data_dir,
            "broker",
            "config",
            "--listen",
            self.options.listen,
            "--mtls-listen",
            str(self.options.mtls_listen),
        )

    def provision(self, tenant: str, device: str, *extra: str) -> dict[str, Any]:
        return invoke(self.data_dir, "device", "provision", "--tenant", tenant, device, *extra)

    def revoke(self, tenant: str, device: str) -> dict[str, Any]:
        return invoke(self.data_dir, "device", "revoke", "--tenant", tenant, device)

    def bridge_user(self, name: str) -> str:
        password: str = invoke(self.data_dir, "broker", "bridge-user", name)["password"]
        return password

    def start(self) -> None:
        self.process = MosquittoProcess(
            self._exe,
            self._workdir,
            HOST,
            self.port,
            security=render_security(self.layout, self.options),
        )
        self.process.start(timeout=15)

    def restart(self) -> None:
        self.stop()
        self.start()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None

    def url(self, username: str, password: str) -> str:
        from urllib.parse import quote

        return f"mqtt://{quote(username, safe='')}:{quote(password, safe='')}@{HOST}:{self.port}"


@dataclass
class Peer:
    """A paho MQTT 5 client that records what happens to it."""

    client_id: str
    connack: Any = None
    subacks: list[Any] = field(default_factory=list)
    messages: list[tuple[str, bytes]] = field(default_factory=list)
    pubacks: dict[int, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._connected = threading.Event()
        self._lock = threading.Lock()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5)
        c.on_connect = self._on_connect
        c.on_message = self._on_message
        c.on_subscribe = self._on_subscribe
        c.on_publish = self._on_publish
        self.client = c

    def _on_connect(self, _c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        self.connack = rc
        self._connected.set()

    def _on_message(self, _c: Any, _u: Any, m: Any) -> None:
        with self._lock:
            self.messages.append((m.topic, bytes(m.payload)))

    def _on_subscribe(self, _c: Any, _u: Any, _mid: Any, rcs: Any, _p: Any) -> None:
        self.subacks.extend(rcs)

    def _on_publish(self, _c: Any, _u: Any, mid: int, rc: Any, _p: Any) -> None:
        self.pubacks[mid] = rc

    def connect(
        self,
        port: int,
        username: str | None = None,
        password: str | None = None,
        *,
        tls: tuple[str, str | None, str | None] | None = None,
    ) -> bool:
        """Connect and wait for the CONNACK (or the connection's failure); True if accepted."""
        if username is not None:
            self.client.username_pw_set(username, password)
        if tls is not None:
            ca, cert, key = tls
            self.client.tls_set(
                ca_certs=ca, certfile=cert, keyfile=key, cert_reqs=ssl.CERT_REQUIRED
            )
        try:
            self.client.connect(HOST, port)
        except (OSError, ssl.SSLError):
            return False
        self.client.loop_start()
        self._connected.wait(5)
        return self.connack is not None and not self.connack.is_failure

    def subscribe(self, topic: str) -> Any:
        n = len(self.subacks)
        self.client.subscribe(topic, qos=1)
        wait_for(lambda: len(self.subacks) > n)
        return self.subacks[n]

    def publish(self, topic: str, payload: bytes) -> Any:
        """Publish QoS1 and wait for the PUBACK; return its reason code."""
        info = self.client.publish(topic, payload, qos=1)
        wait_for(lambda: info.mid in self.pubacks)
        return self.pubacks[info.mid]

    def received(self) -> list[tuple[str, bytes]]:
        with self._lock:
            return list(self.messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def wait_for(cond: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)
