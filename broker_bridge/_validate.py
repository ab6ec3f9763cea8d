"""Classify one MQTT message into an ingest request: pure, no I/O.

Every message becomes exactly one request: a batch, a presence change, or a dead letter that
carries the reason. Nothing is dropped here.
"""

from __future__ import annotations

from google.protobuf.message import DecodeError

import protos

DEFAULT_MAX_PAYLOAD = 1 << 20
DEAD_LETTER_KEEP = 64 * 1024


def dead_letter(topic: str, payload: bytes, reason: str, now_ns: int) -> protos.IngestRequest:
    return protos.IngestRequest(
        dead_letter=protos.DeadLetter(
            topic=topic,
            reason=reason,
            payload=payload[:DEAD_LETTER_KEEP],
            payload_size=len(payload),
            received_at_ns=now_ns,
        )
    )


def classify(
    topic: str, payload: bytes, *, now_ns: int, max_payload: int = DEFAULT_MAX_PAYLOAD
) -> protos.IngestRequest:
    """Turn a message on an ``up`` or ``status`` topic into the request to send to the core."""
    try:
        t = protos.parse_topic(topic)
    except protos.TopicError as exc:
        return dead_letter(topic, payload, f"bad topic: {exc.reason}", now_ns)
    if t.kind == "status":
        if payload not in (protos.STATUS_ONLINE, protos.STATUS_OFFLINE):
            return dead_letter(topic, payload, "bad status payload", now_ns)
        return protos.IngestRequest(
            presence=protos.Presence(
                tenant=t.tenant,
                device_id=t.device_id,
                online=payload == protos.STATUS_ONLINE,
                at_ns=now_ns,
            )
        )
    if t.kind != "up":
        return dead_letter(topic, payload, f"unexpected topic kind {t.kind!r}", now_ns)
    if len(payload) > max_payload:
        return dead_letter(
            topic, payload, f"oversize payload ({len(payload)} > {max_payload})", now_ns
        )
    # Parsed straight into the request: wrapping a parsed batch (``IngestRequest(batch=b)``)
    # copies it, which costs more than the parse.
    req = protos.IngestRequest()
    batch = req.batch
    try:
        batch.ParseFromString(payload)
    except (DecodeError, ValueError, RuntimeError) as exc:  # RuntimeError: recursion limits
        return dead_letter(topic, payload, f"undecodable payload: {exc}", now_ns)
    if batch.tenant != t.tenant or batch.device_id != t.device_id:
        return dead_letter(
            topic,
            payload,
            f"identity mismatch: payload says {batch.tenant}/{batch.device_id}",
            now_ns,
        )
    if batch.seq == 0:
        return dead_letter(topic, payload, "missing seq", now_ns)
    return req
