"""The broker: reachable, and (mosquitto, config readable) the settings delivery depends on.

What matters for binhai's promise (docs/ingest.md): with ``persistence false`` a broker restart
forgets every session and queued message; with the default ``autosave_interval`` (1800 s) a
crash forgets up to half an hour of sessions and subscriptions; ``max_queued_messages`` (default
1000) caps what is queued per client while it is away — the bridge during a restart, a device
while offline — and drops the rest.
"""

from __future__ import annotations

import socket
from pathlib import Path

from binhai._doctor._check import Check
from binhai._embedded import probe_mqtt

__all__ = ["check_broker", "check_mosquitto_conf", "parse_mosquitto_conf"]

AUTOSAVE_MAX_S = 60
QUEUED_MIN = 10_000
# mosquitto's defaults for the settings checked here
_DEFAULTS = {"persistence": "false", "autosave_interval": "1800", "max_queued_messages": "1000"}


def check_broker(mqtt_url: str, *, timeout: float = 2.0) -> Check:
    """TCP reachable, and whether an anonymous MQTT CONNECT is accepted."""
    from protos import MqttUrl

    try:
        url = MqttUrl.parse(mqtt_url)
    except ValueError as exc:
        return Check("broker", "fail", str(exc), "give a valid --mqtt-url")
    try:
        socket.create_connection((url.host, url.port), timeout=timeout).close()
    except OSError as exc:
        return Check(
            "broker",
            "fail",
            f"{url.host}:{url.port} unreachable ({exc.strerror or exc})",
            "start the broker or fix --mqtt-url / BINHAI_MQTT_URL",
        )
    if url.tls:
        return Check("broker", "ok", f"{url.host}:{url.port} reachable (TLS, CONNECT not tried)")
    if probe_mqtt(url.host, url.port, timeout=timeout):
        return Check("broker", "ok", f"{url.host}:{url.port} accepts MQTT connections")
    return Check(
        "broker",
        "ok",
        f"{url.host}:{url.port} reachable; anonymous CONNECT refused (credentials required)",
    )


def parse_mosquitto_conf(path: Path) -> dict[str, str]:
    """The top-level settings of a mosquitto config, following ``include_dir`` (last one wins)."""
    settings: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        value = value.strip()
        if key == "include_dir":
            inc = Path(value)
            for conf in sorted(inc.glob("*.conf")) if inc.is_dir() else ():
                settings.update(parse_mosquitto_conf(conf))
            continue
        settings[key] = value
    return settings


def check_mosquitto_conf(path: Path | None) -> list[Check]:
    """Persistence, autosave interval and queue limit of the mosquitto config at ``path``."""
    if path is None:
        return [
            Check(
                "broker settings",
                "skip",
                "no mosquitto config to read (remote broker?)",
                "give --mosquitto-conf PATH to check persistence and queue limits",
            )
        ]
    try:
        conf = {**_DEFAULTS, **parse_mosquitto_conf(path)}
    except OSError as exc:
        return [Check("broker settings", "fail", f"cannot read {path}: {exc.strerror}")]
    where = f"({path})"
    out: list[Check] = []
    if conf["persistence"].lower() != "true":
        out.append(
            Check(
                "broker persistence",
                "fail",
                f"persistence is off {where}: a restart loses sessions and queued messages",
                "set `persistence true` and a persistence_location",
            )
        )
    else:
        out.append(Check("broker persistence", "ok", f"on {where}"))
        autosave = _int(conf["autosave_interval"])
        if autosave is None or autosave == 0 or autosave > AUTOSAVE_MAX_S:
            out.append(
                Check(
                    "broker autosave",
                    "warn",
                    f"autosave_interval {conf['autosave_interval']}: a crash loses up to that"
                    " much of sessions and subscriptions",
                    f"set `autosave_interval 5` (at most {AUTOSAVE_MAX_S})",
                )
            )
        else:
            out.append(Check("broker autosave", "ok", f"every {autosave} s"))
    queued = _int(conf["max_queued_messages"])
    if queued is not None and 0 < queued < QUEUED_MIN:
        out.append(
            Check(
                "broker queue limit",
                "warn",
                f"max_queued_messages {queued}: more messages for an absent client (the bridge"
                " while it restarts, an offline device) are dropped",
                f"set `max_queued_messages {QUEUED_MIN * 10}` or 0 (unlimited)",
            )
        )
    else:
        out.append(Check("broker queue limit", "ok", f"max_queued_messages {queued}"))
    return out


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None
