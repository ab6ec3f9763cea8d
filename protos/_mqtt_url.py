"""Broker addresses: ``mqtt[s]://[user[:password]@]host[:port][?protocol=5|3.1.1]``.

Pure parsing shared by the device SDK and the bridge. ``mqtts`` means TLS (default port 8883);
``protocol`` selects MQTT 5 (default) or 3.1.1 (for brokers without MQTT 5, such as the
in-process fallback broker); TLS files are passed separately, not in the URL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

PROTOCOLS = ("5", "3.1.1")


@dataclass(frozen=True, slots=True)
class MqttUrl:
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    protocol: str = "5"

    @property
    def v5(self) -> bool:
        return self.protocol == "5"

    @classmethod
    def parse(cls, url: str) -> MqttUrl:
        """Parse ``url``; raise ValueError with the reason when it is not a broker address.

        Error messages quote the URL with its password masked.
        """
        parts = urlsplit(url if "://" in url else f"mqtt://{url}")
        if parts.password:
            url = url.replace(f":{parts.password}@", ":***@", 1)
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise ValueError(f"unsupported broker scheme {parts.scheme!r} in {url!r}")
        tls = parts.scheme in ("mqtts", "ssl")
        if not parts.hostname:
            raise ValueError(f"no host in broker url {url!r}")
        try:
            port = parts.port or (8883 if tls else 1883)
        except ValueError as exc:
            raise ValueError(f"bad port in broker url {url!r}") from exc
        query = parse_qs(parts.query)
        protocol = query.get("protocol", ["5"])[-1]
        if protocol not in PROTOCOLS:
            raise ValueError(f"unsupported MQTT protocol {protocol!r}; use one of {PROTOCOLS}")
        return cls(
            host=parts.hostname,
            port=port,
            tls=tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            protocol=protocol,
        )

    def __str__(self) -> str:
        auth = f"{self.username}@" if self.username else ""
        query = "" if self.v5 else f"?protocol={self.protocol}"
        return f"{'mqtts' if self.tls else 'mqtt'}://{auth}{self.host}:{self.port}{query}"
