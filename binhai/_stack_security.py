"""Credentials for a one-machine deployment (:class:`binhai._stack.Stack` with ``secure``).

In ``<data_dir>/security``: a CA, a bridge identity on the broker, a broker configuration
generated like ``binhai broker config`` (anonymous refused, each device confined to its own
topics), a ``bridge`` token for the core (which runs with ``--auth``), and device identities
provisioned on demand. Secrets reach child processes through their environment, never their
command line.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from binhai._embedded import EmbeddedBroker, EmbeddedError, free_port, probe_mqtt, start_broker
from binhai._security import (
    BrokerOptions,
    CertAuthority,
    IdentityStore,
    Layout,
    TokenStore,
    regenerate,
    render_security,
    write_broker_config,
)

__all__ = ["StackSecurity"]

_HOST = "127.0.0.1"
_BRIDGE_USER = "bridge"
_RELOAD_TIMEOUT_S = 10.0


@dataclass
class StackSecurity:
    layout: Layout
    bridge_password: str = field(repr=False)
    bridge_token: str = field(repr=False)

    @classmethod
    def create(cls, data_dir: Path) -> StackSecurity:
        """A CA, a bridge identity and a bridge token in ``data_dir`` (made afresh)."""
        layout = Layout(data_dir)
        ca = CertAuthority(layout.ca_dir)
        if not ca.exists:
            ca.init()
        password = IdentityStore(layout).add_password(_BRIDGE_USER, role="bridge", replace=True)
        tokens = TokenStore(layout.tokens)
        for name in [r.name for r in tokens.load().values() if r.name == _BRIDGE_USER]:
            tokens.revoke(name)
        _, token = tokens.create(_BRIDGE_USER, "bridge")
        return cls(layout, password, token)

    def start_broker(self, workdir: Path) -> EmbeddedBroker:
        """An embedded mosquitto with the generated configuration on a free loopback port."""
        opts = BrokerOptions(listen=f"{_HOST}:{free_port(_HOST)}")
        write_broker_config(self.layout, opts)
        port = int(opts.listen.rpartition(":")[2])
        return start_broker(
            workdir, port=port, prefer="mosquitto", security=render_security(self.layout, opts)
        )

    def core_args(self) -> list[str]:
        return ["--auth", "--data-dir", str(self.layout.data_dir)]

    def bridge_env(self, mqtt_url: str, *, own_broker: bool) -> dict[str, str]:
        """The bridge's token, and its broker URL with credentials when the broker is ours."""
        env = {"BINHAI_TOKEN": self.bridge_token}
        if own_broker:
            user, password = quote(_BRIDGE_USER, safe=""), quote(self.bridge_password, safe="")
            env["BINHAI_MQTT_URL"] = mqtt_url.replace("://", f"://{user}:{password}@", 1)
        return env

    def provision_devices(
        self, broker: EmbeddedBroker, tenant: str, device_ids: list[str]
    ) -> dict[str, tuple[str, str]]:
        """Passwords for ``device_ids``; returns once the running broker accepts them."""
        creds = IdentityStore(self.layout).add_devices(tenant, device_ids, replace=True)
        regenerate(self.layout)
        if not creds:
            return creds
        broker.reload()
        user, password = creds[device_ids[-1]]
        deadline = time.monotonic() + _RELOAD_TIMEOUT_S
        while not probe_mqtt(broker.host, broker.port, username=user, password=password):
            if time.monotonic() > deadline:
                raise EmbeddedError("mosquitto", "did not take the new device credentials")
            time.sleep(0.05)
        return creds
