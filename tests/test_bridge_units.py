"""The bridge's pure parts: message classification and in-order MQTT acks."""

from __future__ import annotations

import pytest

import protos
from broker_bridge import DEFAULT_MAX_PAYLOAD, AckOrder, Incoming, classify

NOW = 1_700_000_000_123_456_789
UP = "binhai/v1/acme/dev-1/up"
STATUS = "binhai/v1/acme/dev-1/status"


def batch_bytes(tenant: str = "acme", device_id: str = "dev-1", seq: int = 7) -> bytes:
    b = protos.TelemetryBatch(tenant=tenant, device_id=device_id, seq=seq, sent_at_ns=NOW - 5)
    w = b.windows.add(sensor="accel", t0_ns=NOW - 10**9, rate_hz=50.0, channels=1, n_samples=4)
    w.features.values.extend([1.0, 2.0])
    return b.SerializeToString()


def dead(req: protos.IngestRequest) -> protos.DeadLetter:
    assert req.WhichOneof("item") == "dead_letter", req
    return req.dead_letter


def test_valid_batch_passes_through_unchanged() -> None:
    payload = batch_bytes()
    req = classify(UP, payload, now_ns=NOW)
    assert req.WhichOneof("item") == "batch"
    assert req.batch.SerializeToString() == payload
    assert (req.batch.tenant, req.batch.device_id, req.batch.seq) == ("acme", "dev-1", 7)


@pytest.mark.parametrize(
    "topic",
    [
        "binhai/v2/acme/dev-1/up",
        "binhai/v1/acme/up",
        "binhai/v1/acme/dev-1/up/extra",
        "binhai/v1/ac me/dev-1/up",
        "binhai/v1/acme//up",
        "",
    ],
)
def test_bad_topic_is_dead_lettered_with_the_reason(topic: str) -> None:
    payload = batch_bytes()
    d = dead(classify(topic, payload, now_ns=NOW))
    assert d.reason.startswith("bad topic")
    assert d.topic == topic
    assert d.payload == payload
    assert d.payload_size == len(payload)
    assert d.received_at_ns == NOW


def test_unknown_kind_is_dead_lettered() -> None:
    d = dead(classify("binhai/v1/acme/dev-1/sideways", batch_bytes(), now_ns=NOW))
    assert "kind" in d.reason


def test_down_topic_is_not_ingested() -> None:
    d = dead(classify("binhai/v1/acme/dev-1/down", batch_bytes(), now_ns=NOW))
    assert "down" in d.reason


def test_oversize_is_dead_lettered_and_truncated_but_sized() -> None:
    payload = batch_bytes() + b"\x00" * 200_000
    d = dead(classify(UP, payload, now_ns=NOW, max_payload=100_000))
    assert "oversize" in d.reason
    assert d.payload_size == len(payload)
    assert len(d.payload) < len(payload)
    assert payload.startswith(d.payload)


def test_payload_at_the_limit_is_accepted() -> None:
    payload = batch_bytes()
    assert classify(UP, payload, now_ns=NOW, max_payload=len(payload)).WhichOneof("item") == "batch"
    assert DEFAULT_MAX_PAYLOAD >= 64 * 1024


@pytest.mark.parametrize("payload", [b"\xff\xff\xff\xff", b"\x0a\x05ab", b"\x08"])
def test_undecodable_bytes_are_dead_lettered(payload: bytes) -> None:
    d = dead(classify(UP, payload, now_ns=NOW))
    assert d.reason.startswith("undecodable")
    assert d.payload == payload


@pytest.mark.parametrize(("tenant", "device"), [("acme", "dev-2"), ("other", "dev-1"), ("", "")])
def test_identity_mismatch_is_dead_lettered(tenant: str, device: str) -> None:
    d = dead(classify(UP, batch_bytes(tenant, device), now_ns=NOW))
    assert "identity mismatch" in d.reason


def test_seq_zero_is_dead_lettered() -> None:
    d = dead(classify(UP, batch_bytes(seq=0), now_ns=NOW))
    assert "seq" in d.reason


@pytest.mark.parametrize(("payload", "online"), [(b"online", True), (b"offline", False)])
def test_status_becomes_presence(payload: bytes, online: bool) -> None:
    req = classify(STATUS, payload, now_ns=NOW)
    assert req.WhichOneof("item") == "presence"
    p = req.presence
    assert (p.tenant, p.device_id, p.online, p.at_ns) == ("acme", "dev-1", online, NOW)


@pytest.mark.parametrize("payload", [b"", b"ONLINE", b"online\n", b"\x00", b"1"])
def test_garbage_status_is_dead_lettered(payload: bytes) -> None:
    d = dead(classify(STATUS, payload, now_ns=NOW))
    assert "status" in d.reason
    assert d.payload == payload


def msg(mid: int, epoch: int = 1) -> Incoming:
    return Incoming(mid=mid, qos=1, topic=UP, payload=b"", epoch=epoch, received_ns=mid)


def test_ack_order_releases_strictly_in_arrival_order() -> None:
    order = AckOrder()
    a, b, c, d = msg(10), msg(3), msg(7), msg(1)
    for m in (a, b, c, d):
        order.add(m)
    assert len(order) == 4
    assert order.complete(c) == []
    assert order.complete(b) == []
    assert len(order) == 4
    assert order.complete(a) == [a, b, c]
    assert len(order) == 1
    assert order.complete(d) == [d]
    assert len(order) == 0


def test_ack_order_in_order_completion_releases_one_by_one() -> None:
    order = AckOrder()
    ms = [msg(i) for i in range(1, 6)]
    for m in ms:
        order.add(m)
    released = []
    for m in ms:
        got = order.complete(m)
        assert got == [m]
        released += got
    assert released == ms


def test_ack_order_reverse_completion_releases_all_at_the_end() -> None:
    order = AckOrder()
    ms = [msg(i) for i in range(1, 50)]
    for m in ms:
        order.add(m)
    for m in reversed(ms[1:]):
        assert order.complete(m) == []
    assert order.complete(ms[0]) == ms


def test_ack_order_same_mid_twice_is_two_messages() -> None:
    # packet ids are reused by the broker: identity, not mid, tells messages apart
    order = AckOrder()
    first, second = msg(5), msg(5)
    order.add(first)
    order.add(second)
    assert order.complete(second) == []
    assert order.complete(first) == [first, second]


@pytest.mark.parametrize("count", [1, 2, 3, 200])
def test_requests_encoded_as_bytes_parse_to_the_bundle(count: int) -> None:
    from broker_bridge._wire import encode_requests

    items = [classify(UP, batch_bytes(seq=i + 1), now_ns=NOW) for i in range(count)]
    items.append(classify(STATUS, protos.STATUS_ONLINE, now_ns=NOW))
    items.append(classify("binhai/v1/acme/dev-1/up/x", b"\x00" * 300, now_ns=NOW))
    for ref, req in enumerate(items, start=2**40):
        req.ref = ref
    expect = protos.IngestRequest(bundle=protos.IngestBundle(items=items))
    got = protos.IngestRequest.FromString(encode_requests(items))
    assert got == expect
    assert encode_requests(items[:1]) == items[0].SerializeToString()
