"""The core's bearer tokens, kept hashed in ``<data-dir>/security/tokens.json`` (0600).

A token reads ``bh_<id>_<secret>``: ``id`` (8 hex digits) finds the record, and only the
SHA-256 of ``secret`` (256 random bits — no salt or stretching needed for secrets that cannot
be guessed) is stored and compared in constant time. The token itself is shown once, at
creation. :meth:`TokenStore.authenticator` gives the core a lookup that re-reads the file when
it changes (checked at most once a second, and at once for an unknown token id), so a new token
works at once and ``binhai token revoke`` takes effect on a running core within a second.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from binhai._security._errors import SecurityError, UnknownIdentity
from binhai._security._files import locked, read_json, write_json
from cloud_core import Authenticate, Principal, Role

__all__ = ["TokenRecord", "TokenStore"]

_PREFIX = "bh"
_RELOAD_CHECK_S = 1.0


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _split(token: str) -> tuple[str, str] | None:
    prefix, _, rest = token.partition("_")
    token_id, _, secret = rest.partition("_")
    if prefix != _PREFIX or len(token_id) != 8 or not secret:
        return None
    return token_id, secret


@dataclass(frozen=True, slots=True)
class TokenRecord:
    id: str
    name: str
    role: Role
    tenant: str | None
    created: float
    sha256: str

    def principal(self) -> Principal:
        return Principal(self.name, self.role, self.tenant)

    def public(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("sha256")
        d["tenant"] = self.tenant or "*"
        return d


class TokenStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = path.with_name(f".{path.name}.lock")

    def load(self) -> dict[str, TokenRecord]:
        data = read_json(self.path, {"tokens": {}})
        return {i: TokenRecord(**r) for i, r in data["tokens"].items()}

    def _save(self, records: dict[str, TokenRecord]) -> None:
        write_json(self.path, {"tokens": {i: asdict(r) for i, r in sorted(records.items())}})

    def create(self, name: str, role: Role, tenant: str | None = None) -> tuple[TokenRecord, str]:
        """Add a token; return its record and the token (shown once, never stored)."""
        principal = Principal(name, role, tenant)  # validates role and tenant
        with locked(self._lock):
            return self._create(principal)

    def _create(self, principal: Principal) -> tuple[TokenRecord, str]:
        name = principal.name
        records = self.load()
        if any(r.name == name for r in records.values()):
            raise SecurityError(f"a token named {name!r} exists; revoke it first")
        token_id = secrets.token_hex(4)
        while token_id in records:
            token_id = secrets.token_hex(4)
        secret = secrets.token_urlsafe(32)
        rec = TokenRecord(
            token_id, name, principal.role, principal.tenant, time.time(), _digest(secret)
        )
        records[token_id] = rec
        self._save(records)
        return rec, f"{_PREFIX}_{token_id}_{secret}"

    def revoke(self, name_or_id: str) -> TokenRecord:
        with locked(self._lock):
            records = self.load()
            for token_id, rec in records.items():
                if name_or_id in (rec.name, token_id):
                    del records[token_id]
                    self._save(records)
                    return rec
        raise UnknownIdentity("token", name_or_id)

    def authenticator(self) -> Authenticate:
        """A token -> :class:`Principal` lookup for the core, following changes of the file."""
        authenticate, _ = self._lookups()
        return authenticate

    def certificate_names(self) -> Authenticate:
        """A client certificate's common name -> :class:`Principal` lookup: the token record
        of that name (its role and tenant), following changes of the file — revoking the
        token refuses the certificate."""
        _, by_name = self._lookups()
        return by_name

    def _lookups(self) -> tuple[Authenticate, Authenticate]:
        lock = threading.Lock()
        state: dict[str, Any] = {"checked": 0.0, "stamp": None, "records": {}}

        def refresh(force: bool = False) -> dict[str, TokenRecord]:
            with lock:
                now = time.monotonic()
                if force or now - state["checked"] >= _RELOAD_CHECK_S:
                    state["checked"] = now
                    try:
                        st = self.path.stat()
                        stamp: Any = (st.st_mtime_ns, st.st_size, st.st_ino)
                    except FileNotFoundError:
                        stamp = None
                    if stamp != state["stamp"]:
                        state["records"] = self.load() if stamp is not None else {}
                        state["stamp"] = stamp
                records: dict[str, TokenRecord] = state["records"]
                return records

        def authenticate(token: str) -> Principal | None:
            parts = _split(token)
            if parts is None:
                return None
            rec = refresh().get(parts[0])
            if rec is None:  # perhaps created a moment ago: look at the file now
                rec = refresh(force=True).get(parts[0])
            if rec is None or not hmac.compare_digest(rec.sha256, _digest(parts[1])):
                return None
            return rec.principal()

        def by_name(name: str) -> Principal | None:
            for rec in refresh().values():
                if rec.name == name:
                    return rec.principal()
            return None

        refresh()
        return authenticate, by_name
