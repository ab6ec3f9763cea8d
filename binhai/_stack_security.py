"""Credentials for a one-machine deployment (:class:`binhai._stack.Stack` with ``secure``).

In ``<data_dir>/security``: a CA, a bridge identity on the broker, a broker configuration
generated like ``binhai broker config`` (anonymous refused, each device confined to its own
topics), a ``bridge`` token for the core (which runs with ``--auth``), and device identities
provisioned on demand. Secrets reach child processes through their environment, never their
command line.

The stack's own secrets are kept in ``<data_dir>/security/stack/`` (0600 files in a 0700
directory) so that a stack restarted on the same data directory reuses them instead of issuing
new ones — devices provisioned earlier still connect::

    bridge.json            the bridge's broker password and core token
    operator.token         an operator token (all tenants) for the CLI, the token alone
    devices-<tenant>.json  device passwords, as ``binhai device provision-fleet --out`` writes them

A stored secret is reused only while it still verifies (against the identity's hash, or the
token store); one rotated or revoked meanwhile is issued afresh and the file rewritten.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from binhai._embedded import EmbeddedBroker, EmbeddedError, free_port, probe_mqtt, start_broker
from binhai._security import (
    BrokerOptions,
    CertAuthority,
    IdentityStore,
    Layout,
    SecurityError,
    TokenStore,
    device_username,
    regenerate,
    render_security,
    verify_password,
    write_broker_config,
    write_private,
)
from cloud_core import Role

__all__ = ["StackSecurity"]

_HOST = "127.0.0.1"
_BRIDGE_USER = "bridge"
_OPERATOR = "operator"
_RELOAD_TIMEOUT_S = 10.0


def _read(path: Path) -> Any:
    """The JSON in a secrets file, or None when it is missing or unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write(path: Path, data: Any) -> None:
    write_private(path, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode())


def _password_ok(store: IdentityStore, username: str, password: object) -> bool:
    """Whether ``password`` is still ``username``'s (provisioned, not rotated or revoked)."""
    if not isinstance(password, str) or not password:
        return False
    try:
        ident = store.get(username)
    except SecurityError:
        return False
    return ident.kind == "password" and verify_password(password, ident.password_hash)


def _token(tokens: TokenStore, name: str, role: Role, saved: object) -> tuple[str, bool]:
    """``saved`` when it is still a valid ``role`` token, else a new token named ``name`` (an
    old one of that name revoked); and whether it is new."""
    if isinstance(saved, str) and saved:
        principal = tokens.authenticator()(saved)
        if principal is not None and principal.role == role and principal.tenant is None:
            return saved, False
    for old in [r.name for r in tokens.load().values() if r.name == name]:
        tokens.revoke(old)
    return tokens.create(name, role)[1], True


@dataclass
class StackSecurity:
    layout: Layout
    bridge_password: str = field(repr=False)
    bridge_token: str = field(repr=False)

    @property
    def secrets_dir(self) -> Path:
        """Where the stack keeps the secrets it reuses (0700)."""
        return self.layout.root / "stack"

    @property
    def operator_token_file(self) -> Path:
        return self.secrets_dir / "operator.token"

    def credentials_file(self, tenant: str) -> Path:
        """The device passwords of ``tenant`` provisioned by this stack (0600)."""
        return self.secrets_dir / f"devices-{tenant}.json"

    @classmethod
    def create(cls, data_dir: Path) -> StackSecurity:
        """A CA, a bridge identity and a bridge token in ``data_dir``: those of an earlier run
        when they are still valid, else new ones."""
        layout = Layout(data_dir)
        ca = CertAuthority(layout.ca_dir)
        if not ca.exists:
            ca.init()
        path = layout.root / "stack" / "bridge.json"
        saved = _read(path) or {}
        store = IdentityStore(layout)
        password = saved.get("mqtt_password")
        fresh = not _password_ok(store, _BRIDGE_USER, password)
        if fresh:
            password = store.add_password(_BRIDGE_USER, role="bridge", replace=True)
        tokens = TokenStore(layout.tokens)
        token, new_token = _token(tokens, _BRIDGE_USER, "bridge", saved.get("token"))
        if fresh or new_token:
            _write(path, {"mqtt_password": password, "token": token})
        assert isinstance(password, str)
        return cls(layout, password, token)

    def operator_token(self) -> Path:
        """Make sure ``operator_token_file`` holds a valid operator token (all tenants); return
        the file's path. The token is never printed."""
        path = self.operator_token_file
        try:
            saved: str | None = path.read_text().strip()
        except OSError:
            saved = None
        token, new = _token(TokenStore(self.layout.tokens), _OPERATOR, "operator", saved)
        if new:
            write_private(path, (token + "\n").encode())
        return path

    def start_broker(self, workdir: Path, *, port: int = 0) -> EmbeddedBroker:
        """An embedded mosquitto with the generated configuration on loopback, on ``port``
        (a free one when 0)."""
        opts = BrokerOptions(listen=f"{_HOST}:{port or free_port(_HOST)}")
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
        """Passwords for ``device_ids`` (device id -> (username, password)): those kept in
        :meth:`credentials_file` when still valid, new ones for the rest; returns once the
        running broker accepts them."""
        path = self.credentials_file(tenant)
        saved = (_read(path) or {}).get("devices", {})
        store = IdentityStore(self.layout)
        creds: dict[str, tuple[str, str]] = {}
        for device_id in device_ids:
            username = device_username(tenant, device_id)
            password = (saved.get(device_id) or {}).get("password")
            if isinstance(password, str) and _password_ok(store, username, password):
                creds[device_id] = (username, password)
        missing = [d for d in device_ids if d not in creds]
        if not missing:
            return creds
        creds |= store.add_devices(tenant, missing, replace=True)
        saved |= {d: {"username": u, "password": p} for d, (u, p) in creds.items()}
        _write(path, {"tenant": tenant, "devices": saved})
        regenerate(self.layout)
        broker.reload()
        user, password = creds[missing[-1]]
        deadline = time.monotonic() + _RELOAD_TIMEOUT_S
        while not probe_mqtt(broker.host, broker.port, username=user, password=password):
            if time.monotonic() > deadline:
                raise EmbeddedError("mosquitto", "did not take the new device credentials")
            time.sleep(0.05)
        return creds
