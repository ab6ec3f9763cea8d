"""Where a deployment's security files live under its data directory (all 0600 / 0700).

::

    <data-dir>/security/
      ca/ca.pem ca.key crl.pem        the CA (binhai ca init)
      identities.json                 device and bridge identities: password hashes, cert serials
      issued/<name>.pem .key          certificates issued to devices, bridges and servers
      broker/mosquitto.conf passwd acl options.json   the generated broker configuration
      tokens.json                     the core's bearer tokens (hashed)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["Layout"]


@dataclass(frozen=True, slots=True)
class Layout:
    data_dir: Path

    @property
    def root(self) -> Path:
        return self.data_dir / "security"

    @property
    def ca_dir(self) -> Path:
        return self.root / "ca"

    @property
    def identities(self) -> Path:
        return self.root / "identities.json"

    @property
    def issued(self) -> Path:
        return self.root / "issued"

    @property
    def broker_dir(self) -> Path:
        return self.root / "broker"

    @property
    def tokens(self) -> Path:
        return self.root / "tokens.json"

    def issued_paths(self, name: str) -> tuple[Path, Path]:
        """Certificate and key paths for an issued certificate (``/`` becomes ``.``)."""
        stem = name.replace("/", ".")
        return self.issued / f"{stem}.pem", self.issued / f"{stem}.key"
