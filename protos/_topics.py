"""MQTT topic layout, version 1: pure functions, no I/O.

``binhai/v1/{tenant}/{device_id}/{kind}`` with kind one of ``up`` (QoS1 uplink batches),
``down`` (QoS1 downlink commands) and ``status`` (retained presence, set by the MQTT will).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PREFIX = "binhai/v1"
KINDS = ("up", "down", "status")
# Retained payloads of the status topic (the offline one is the MQTT will).
STATUS_ONLINE = b"online"
STATUS_OFFLINE = b"offline"

_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


class TopicError(ValueError):
    """A topic or identifier that does not follow the binhai v1 layout."""

    def __init__(self, topic: str, reason: str) -> None:
        super().__init__(f"{reason}: {topic!r}")
        self.topic = topic
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Topic:
    tenant: str
    device_id: str
    kind: str

    def __str__(self) -> str:
        return f"{PREFIX}/{self.tenant}/{self.device_id}/{self.kind}"


def check_id(value: str, what: str) -> str:
    """Return ``value`` if it is a valid tenant or device id, else raise :class:`TopicError`."""
    if not _ID.fullmatch(value):
        raise TopicError(value, f"invalid {what} (1-128 of A-Z a-z 0-9 _ . : -)")
    return value


def topic_for(tenant: str, device_id: str, kind: str) -> str:
    """The topic of ``kind`` for one device, e.g. ``binhai/v1/acme/d-1/up``."""
    if kind not in KINDS:
        raise TopicError(kind, "unknown topic kind")
    return str(Topic(check_id(tenant, "tenant"), check_id(device_id, "device id"), kind))


def parse_topic(topic: str) -> Topic:
    """Split a v1 topic into its parts; raise :class:`TopicError` for anything else."""
    parts = topic.split("/")
    if len(parts) != 5 or f"{parts[0]}/{parts[1]}" != PREFIX:
        raise TopicError(topic, "not a binhai/v1/{tenant}/{device}/{kind} topic")
    _, _, tenant, device_id, kind = parts
    if kind not in KINDS:
        raise TopicError(topic, "unknown topic kind")
    for value, what in ((tenant, "tenant"), (device_id, "device id")):
        try:
            check_id(value, what)
        except TopicError as exc:
            raise TopicError(topic, exc.reason) from None
    return Topic(tenant, device_id, kind)


def subscription(kind: str, *, tenant: str = "+", share_group: str | None = None) -> str:
    """A wildcard filter for ``kind`` topics, optionally as an MQTT 5 shared subscription."""
    if kind not in KINDS:
        raise TopicError(kind, "unknown topic kind")
    if tenant != "+":
        check_id(tenant, "tenant")
    flt = f"{PREFIX}/{tenant}/+/{kind}"
    return f"$share/{share_group}/{flt}" if share_group else flt
