"""Wire contracts: generated code is not stale, topic layout, broker URLs."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

import protos
from protos import MqttUrl, Topic, TopicError, parse_topic, subscription, topic_for

ROOT = Path(__file__).resolve().parent.parent
GENERATED = ROOT / "protos" / "binhai" / "v1"


def load_gen_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_protos", ROOT / "scripts" / "gen_protos.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_generated_code_is_not_stale(tmp_path: Path) -> None:
    fresh = load_gen_script().generate(tmp_path)
    assert fresh, "the generator produced nothing"
    committed = sorted(GENERATED.glob("*_pb2*.py*"))
    assert [p.name for p in fresh] == [p.name for p in committed]
    stale = [p.name for p in fresh if p.read_bytes() != (GENERATED / p.name).read_bytes()]
    assert not stale, f"regenerate with: python scripts/gen_protos.py  (stale: {stale})"
    # every .proto has its three outputs
    for proto in GENERATED.glob("*.proto"):
        for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py"):
            assert (GENERATED / f"{proto.stem}{suffix}").exists()


@pytest.mark.parametrize("kind", ["up", "down", "status"])
@pytest.mark.parametrize(
    ("tenant", "device"), [("acme", "dev-1"), ("a", "b"), ("T_0.x:y-z", "x" * 128)]
)
def test_topic_round_trip(tenant: str, device: str, kind: str) -> None:
    t = topic_for(tenant, device, kind)
    assert t == f"binhai/v1/{tenant}/{device}/{kind}"
    parsed = parse_topic(t)
    assert parsed == Topic(tenant, device, kind)
    assert str(parsed) == t


@pytest.mark.parametrize(
    ("tenant", "device", "kind"),
    [
        ("acme", "dev-1", "sideways"),
        ("", "dev-1", "up"),
        ("acme", "", "up"),
        ("ac/me", "dev-1", "up"),
        ("acme", "dev+1", "up"),
        ("acme", "dev#", "up"),
        ("acme", "x" * 129, "up"),
        ("acme", "dev 1", "up"),
        ("acme", "dév", "up"),
    ],
)
def test_topic_for_rejects_bad_parts(tenant: str, device: str, kind: str) -> None:
    with pytest.raises(TopicError) as info:
        topic_for(tenant, device, kind)
    assert isinstance(info.value, ValueError)
    assert info.value.reason


@pytest.mark.parametrize(
    "topic",
    [
        "",
        "binhai/v1/acme/dev-1",
        "binhai/v1/acme/dev-1/up/",
        "binhai/v2/acme/dev-1/up",
        "other/v1/acme/dev-1/up",
        "/binhai/v1/acme/dev-1/up",
        "binhai/v1/+/dev-1/up",
        "binhai/v1/acme/#/up",
        "binhai/v1/acme/dev-1/UP",
        "binhai/v1/acme/dev-1/sideways",
    ],
)
def test_parse_topic_rejects(topic: str) -> None:
    with pytest.raises(TopicError) as info:
        parse_topic(topic)
    assert info.value.reason


@pytest.mark.parametrize(
    "topic", ["binhai/v1/+/dev-1/up", "binhai/v1/acme/#/up", "binhai/v1/acme/d v/up"]
)
def test_parse_topic_error_carries_the_whole_topic(topic: str) -> None:
    with pytest.raises(TopicError) as info:
        parse_topic(topic)
    assert info.value.topic == topic


@pytest.mark.parametrize(
    "call",
    [
        lambda: protos.check_id("dev-1\n", "device id"),
        lambda: topic_for("acme", "dev-1\n", "up"),
        lambda: parse_topic("binhai/v1/acme\n/dev-1/up"),
    ],
    ids=["check_id", "topic_for", "parse_topic"],
)
def test_trailing_newline_in_an_id_is_rejected(call: object) -> None:
    with pytest.raises(TopicError):
        call()  # type: ignore[operator]


def test_subscriptions() -> None:
    assert subscription("up") == "binhai/v1/+/+/up"
    assert subscription("status", tenant="acme") == "binhai/v1/acme/+/status"
    assert subscription("up", share_group="bridge") == "$share/bridge/binhai/v1/+/+/up"
    with pytest.raises(TopicError):
        subscription("nope")


def test_status_payloads_differ() -> None:
    assert protos.STATUS_ONLINE != protos.STATUS_OFFLINE


@pytest.mark.parametrize(
    ("url", "host", "port", "tls", "protocol"),
    [
        ("mqtt://broker", "broker", 1883, False, "5"),
        ("mqtts://broker", "broker", 8883, True, "5"),
        ("tcp://broker:1999", "broker", 1999, False, "5"),
        ("ssl://broker", "broker", 8883, True, "5"),
        ("broker.local:1884", "broker.local", 1884, False, "5"),
        ("127.0.0.1", "127.0.0.1", 1883, False, "5"),
        ("mqtt://[::1]:1885", "::1", 1885, False, "5"),
        ("mqtt://broker?protocol=3.1.1", "broker", 1883, False, "3.1.1"),
        ("mqtts://broker:9999?protocol=5", "broker", 9999, True, "5"),
    ],
)
def test_mqtt_url_parse(url: str, host: str, port: int, tls: bool, protocol: str) -> None:
    u = MqttUrl.parse(url)
    assert (u.host, u.port, u.tls, u.protocol) == (host, port, tls, protocol)
    assert u.v5 is (protocol == "5")
    assert (u.username, u.password) == (None, None)


def test_mqtt_url_credentials_are_unquoted_and_never_printed() -> None:
    u = MqttUrl.parse("mqtt://us%40er:p%3Ass@broker:1883")
    assert (u.username, u.password) == ("us@er", "p:ss")
    assert "p:ss" not in str(u) and "p%3Ass" not in str(u)


@pytest.mark.parametrize(
    "url",
    [
        "mqtt://broker:1883",
        "mqtts://broker:8883",
        "mqtt://broker:1883?protocol=3.1.1",
        "mqtts://user@broker:8884?protocol=3.1.1",
    ],
)
def test_mqtt_url_str_round_trips(url: str) -> None:
    assert str(MqttUrl.parse(url)) == url
    assert MqttUrl.parse(str(MqttUrl.parse(url))) == MqttUrl.parse(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://broker",
        "ws://broker:80",
        "mqtt://",
        "mqtt://:1883",
        "mqtt://broker:notaport",
        "mqtt://broker:99999",
        "mqtt://broker?protocol=4",
        "mqtt://broker?protocol=3.1",
    ],
)
def test_mqtt_url_rejects(url: str) -> None:
    with pytest.raises(ValueError):
        MqttUrl.parse(url)
