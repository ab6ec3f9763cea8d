"""The registry of MQTT identities: devices (``tenant/device``) and bridges, in one JSON file.

A device's MQTT username is ``{tenant}/{device}`` — unambiguous, since ``/`` cannot occur in a
tenant or device id — and for certificate identities it is the certificate's common name
(mosquitto's ``use_identity_as_username``). Passwords are never stored: only their mosquitto
``$7$`` hash, from which the broker's password file is generated. Certificates are recorded by
serial number; revoking one adds its serial to the CRL. Revoked identities are removed, so the
id can be provisioned again (with new credentials).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import protos
from binhai._security._ca import CertAuthority, IssuedCert
from binhai._security._errors import SecurityError, UnknownIdentity
from binhai._security._files import locked, read_json, write_json
from binhai._security._layout import Layout
from binhai._security._passwd import hash_password, new_password

__all__ = ["Identity", "IdentityStore", "device_username"]

Kind = Literal["password", "cert"]
Role = Literal["device", "bridge"]


def device_username(tenant: str, device_id: str) -> str:
    """The MQTT username (and certificate CN) of a device: ``tenant/device``."""
    return f"{protos.check_id(tenant, 'tenant')}/{protos.check_id(device_id, 'device id')}"


@dataclass(frozen=True, slots=True)
class Identity:
    username: str
    role: Role
    kind: Kind
    created: float
    tenant: str = ""
    device_id: str = ""
    password_hash: str = ""
    serial: int = 0

    def public(self) -> dict[str, Any]:
        """What may be shown: everything but the hash."""
        d = asdict(self)
        d.pop("password_hash")
        d["serial"] = f"{self.serial:x}" if self.serial else ""
        return d


class IdentityStore:
    """Load, change and save ``identities.json``; every change is written atomically (0600)."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.path: Path = layout.identities
        self._ids: dict[str, Identity] = {}
        self.revoked_serials: list[int] = []
        self._load()

    def _load(self) -> None:
        data = read_json(self.path, {"identities": {}, "revoked_serials": []})
        self._ids = {name: Identity(**fields) for name, fields in data["identities"].items()}
        self.revoked_serials = [int(s) for s in data["revoked_serials"]]

    @contextlib.contextmanager
    def _changing(self) -> Iterator[None]:
        """Lock the file, re-read it, let the caller change it, save it."""
        with locked(self.path.with_name(".identities.lock")):
            self._load()
            yield
            self._save()

    def __iter__(self) -> Any:
        return iter(sorted(self._ids.values(), key=lambda i: i.username))

    def __len__(self) -> int:
        return len(self._ids)

    def get(self, username: str) -> Identity:
        try:
            return self._ids[username]
        except KeyError:
            raise UnknownIdentity("identity", username) from None

    def _save(self) -> None:
        write_json(
            self.path,
            {
                "identities": {n: asdict(i) for n, i in sorted(self._ids.items())},
                "revoked_serials": sorted(self.revoked_serials),
            },
        )

    def _check_new(self, username: str, replace: bool) -> None:
        if username in self._ids and not replace:
            raise SecurityError(
                f"{username!r} is already provisioned; revoke it first or use --rotate"
            )

    def add_password(
        self,
        username: str,
        *,
        role: Role,
        tenant: str = "",
        device_id: str = "",
        replace: bool = False,
    ) -> str:
        """Provision ``username`` with a new random password; return it (shown once only)."""
        with self._changing():
            return self._add_password(username, role, tenant, device_id, replace)

    def add_devices(
        self, tenant: str, device_ids: list[str], *, replace: bool = False
    ) -> dict[str, tuple[str, str]]:
        """Provision many devices with passwords in one write; device id -> (username, password)."""
        out = {}
        with self._changing():
            for device_id in device_ids:
                username = device_username(tenant, device_id)
                password = self._add_password(username, "device", tenant, device_id, replace)
                out[device_id] = (username, password)
        return out

    def _add_password(
        self, username: str, role: Role, tenant: str, device_id: str, replace: bool
    ) -> str:
        if ":" in username:
            raise SecurityError(
                f"{username!r}: a mosquitto password file cannot hold ':' in a username;"
                " use a certificate identity"
            )
        self._check_new(username, replace)
        self._retire(username)
        password = new_password()
        self._ids[username] = Identity(
            username,
            role,
            "password",
            time.time(),
            tenant,
            device_id,
            password_hash=hash_password(password),
        )
        return password

    def add_cert(
        self,
        username: str,
        *,
        role: Role,
        tenant: str = "",
        device_id: str = "",
        replace: bool = False,
    ) -> IssuedCert:
        """Provision ``username`` with a client certificate signed by the CA (CN = username)."""
        ca = CertAuthority(self.layout.ca_dir)
        with self._changing():
            self._check_new(username, replace)
            issued = ca.issue(username)
            self._retire(username)
            self._ids[username] = Identity(
                username, role, "cert", time.time(), tenant, device_id, serial=issued.serial
            )
        if self.revoked_serials:
            ca.write_crl(self.revoked_serials)
        return issued

    def revoke(self, username: str) -> Identity:
        """Take back ``username``'s credentials: forget its hash, or put its serial in the CRL."""
        with self._changing():
            ident = self.get(username)
            self._retire(username)
        if ident.kind == "cert":
            CertAuthority(self.layout.ca_dir).write_crl(self.revoked_serials)
        return ident

    def _retire(self, username: str) -> None:
        old = self._ids.pop(username, None)
        if old is not None and old.serial:
            self.revoked_serials.append(old.serial)

    def password_lines(self) -> list[str]:
        """The mosquitto password file's lines (``username:$7$...``)."""
        return [f"{i.username}:{i.password_hash}" for i in self if i.kind == "password"]
