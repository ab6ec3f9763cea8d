"""Device identities and broker authorisation on a real mosquitto configured by
``binhai broker config``: who may connect, publish and subscribe where."""

from __future__ import annotations

import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509

from binhai._embedded import find_mosquitto
from binhai._security import (
    CertAuthority,
    IdentityStore,
    Layout,
    SecurityError,
    hash_password,
    verify_password,
)
from binhai.cli import cli
from tests.secure_broker import Peer, SecureBroker, wait_for

pytestmark = [
    pytest.mark.broker,
    pytest.mark.skipif(find_mosquitto() is None, reason="mosquitto not installed"),
]

T = "acme"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_password_hash_roundtrip_and_format() -> None:
    h = hash_password("s3cret", salt=b"\x00" * 12, iterations=101)
    assert h.startswith("$7$101$AAAAAAAAAAAAAAAA$")
    assert verify_password("s3cret", h)
    assert not verify_password("s3cret!", h)
    assert not verify_password("s3cret", "$6$nope")
    assert hash_password("s3cret") != hash_password("s3cret")  # salted


def test_ca_keys_private_and_refuses_overwrite(tmp_path: Path) -> None:
    ca = CertAuthority(Layout(tmp_path).ca_dir)
    ca.init()
    assert _mode(ca.key_path) == 0o600
    assert _mode(ca.dir) == 0o700
    with pytest.raises(SecurityError, match="already exists"):
        ca.init()
    issued = ca.issue("core", server_hosts=("localhost", "127.0.0.1"))
    cert = x509.load_pem_x509_certificate(issued.cert_pem)
    cert.verify_directly_issued_by(ca.certificate())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)


def test_registry_keeps_only_hashes(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    password = IdentityStore(layout).add_password(
        f"{T}/d1", role="device", tenant=T, device_id="d1"
    )
    text = layout.identities.read_text()
    assert password not in text
    assert _mode(layout.identities) == 0o600
    ident = IdentityStore(layout).get(f"{T}/d1")
    assert verify_password(password, ident.password_hash)
    assert "password_hash" not in ident.public()


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    env = {"BINHAI_DATA_DIR": str(tmp_path)}
    runner = CliRunner()
    res = runner.invoke(cli, ["device", "provision", "--tenant", T, "d/1"], env=env)
    assert res.exit_code != 0
    res = runner.invoke(cli, ["device", "revoke", "--tenant", T, "nobody"], env=env)
    assert res.exit_code != 0 and "unknown identity" in str(res.exception)
    res = runner.invoke(cli, ["device", "provision", "--tenant", T, "d1", "--cert"], env=env)
    assert res.exit_code != 0 and "binhai ca init" in str(res.exception)


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[tuple[SecureBroker, dict[str, str]]]:
    """A broker with devices a, b (passwords), c (certificate) and a bridge identity."""
    sb = SecureBroker(tmp_path)
    creds = {
        "a": sb.provision(T, "a")["password"],
        "b": sb.provision(T, "b")["password"],
        "bridge": sb.bridge_user("bridge-1"),
    }
    sb.provision(T, "c", "--cert")
    sb.config()
    sb.start()
    yield sb, creds
    sb.stop()


def _peer(sb: SecureBroker, name: str, user: str | None, password: str | None) -> Peer:
    p = Peer(name)
    assert p.connect(sb.port, user, password), p.connack
    return p


def test_generated_files_are_private(secured: tuple[SecureBroker, dict[str, str]]) -> None:
    sb, creds = secured
    broker = sb.layout.broker_dir
    for name in ("passwd", "acl", "mosquitto.conf"):
        assert _mode(broker / name) == 0o600
    passwd = (broker / "passwd").read_text()
    assert f"{T}/a:$7$" in passwd and creds["a"] not in passwd
    assert "allow_anonymous false" in (broker / "mosquitto.conf").read_text()


def test_anonymous_and_wrong_password_refused(
    secured: tuple[SecureBroker, dict[str, str]],
) -> None:
    sb, creds = secured
    anon = Peer("anon")
    assert not anon.connect(sb.port)
    assert anon.connack is not None and anon.connack.is_failure
    wrong = Peer("wrong")
    assert not wrong.connect(sb.port, f"{T}/a", creds["b"])
    anon.close()
    wrong.close()


def test_device_cannot_publish_as_another(secured: tuple[SecureBroker, dict[str, str]]) -> None:
    sb, creds = secured
    bridge = _peer(sb, "bridge", "bridge-1", creds["bridge"])
    assert not bridge.subscribe("$share/bridge/binhai/v1/+/+/up").is_failure
    assert not bridge.subscribe("binhai/v1/+/+/status").is_failure
    a = _peer(sb, "a", f"{T}/a", creds["a"])
    forged = a.publish(f"binhai/v1/{T}/b/up", b"forged")
    forged_status = a.publish(f"binhai/v1/{T}/b/status", b"offline")
    a.publish(f"binhai/v1/{T}/a/up", b"marker")  # same connection, QoS1: delivered in order
    wait_for(lambda: (f"binhai/v1/{T}/a/up", b"marker") in bridge.received())
    assert bridge.received() == [(f"binhai/v1/{T}/a/up", b"marker")]
    # MQTT 5: the broker says why (0x87 Not authorized), so the SDK can tell it is permanent.
    assert forged.is_failure and forged.value == 0x87
    assert forged_status.is_failure
    bridge.close()
    a.close()


def test_device_cannot_listen_to_others(secured: tuple[SecureBroker, dict[str, str]]) -> None:
    sb, creds = secured
    a = _peer(sb, "a", f"{T}/a", creds["a"])
    b = _peer(sb, "b", f"{T}/b", creds["b"])
    a.subscribe(f"binhai/v1/{T}/b/down")
    a.subscribe("binhai/v1/+/+/up")
    a.subscribe(f"binhai/v1/{T}/a/down")
    bridge = _peer(sb, "bridge", "bridge-1", creds["bridge"])
    assert not bridge.publish(f"binhai/v1/{T}/b/down", b"for-b").is_failure
    assert not b.publish(f"binhai/v1/{T}/b/up", b"b-data").is_failure
    assert not bridge.publish(f"binhai/v1/{T}/a/down", b"for-a").is_failure
    wait_for(lambda: (f"binhai/v1/{T}/a/down", b"for-a") in a.received())
    assert a.received() == [(f"binhai/v1/{T}/a/down", b"for-a")]
    # A device may not write another's down topic either.
    assert a.publish(f"binhai/v1/{T}/b/down", b"x").is_failure
    for p in (a, b, bridge):
        p.close()


def test_revoked_password_device_refused(secured: tuple[SecureBroker, dict[str, str]]) -> None:
    sb, creds = secured
    out = sb.revoke(T, "a")
    assert out["kind"] == "password"
    assert f"{T}/a:" not in (sb.layout.broker_dir / "passwd").read_text()
    sb.restart()
    a = Peer("a")
    assert not a.connect(sb.port, f"{T}/a", creds["a"])
    b = _peer(sb, "b", f"{T}/b", creds["b"])  # the others still connect
    a.close()
    b.close()


def test_certificate_device_and_revocation(secured: tuple[SecureBroker, dict[str, str]]) -> None:
    sb, creds = secured
    cert, key = sb.layout.issued_paths(f"{T}/c")
    tls = (str(sb.layout.ca_dir / "ca.pem"), str(cert), str(key))
    bridge = _peer(sb, "bridge", "bridge-1", creds["bridge"])
    bridge.subscribe("$share/bridge/binhai/v1/+/+/up")
    c = Peer("c")
    assert c.connect(sb.mtls_port, tls=tls), c.connack
    # The certificate's CN is the username: c may write its own topic, not another's.
    assert c.publish(f"binhai/v1/{T}/a/up", b"forged").is_failure
    assert not c.publish(f"binhai/v1/{T}/c/up", b"cert-data").is_failure
    wait_for(lambda: bridge.received() == [(f"binhai/v1/{T}/c/up", b"cert-data")])
    c.close()
    # Without a client certificate the mTLS listener refuses.
    nocert = Peer("nocert")
    assert not nocert.connect(sb.mtls_port, tls=(tls[0], None, None))
    nocert.close()
    out = sb.revoke(T, "c")
    assert out["revoked_serial"]
    crl = x509.load_pem_x509_crl(sb.layout.ca_dir.joinpath("crl.pem").read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(int(out["revoked_serial"], 16))
    sb.restart()
    again = Peer("c2")
    assert not again.connect(sb.mtls_port, tls=tls)
    bridge.close()
    again.close()


def test_sdk_and_configs_never_show_passwords() -> None:
    from broker_bridge import BridgeConfig
    from cloud_core import CoreConfig
    from device_sdk import ConfigError, MqttOptions, MqttTransport
    from protos import MqttUrl

    opts = MqttOptions(username=f"{T}/d1", password="s3cret-pw")
    assert "s3cret-pw" not in repr(opts) and f"{T}/d1" in repr(opts)
    with pytest.raises(ConfigError, match="without a username"):
        MqttTransport("mqtt://127.0.0.1:1883", MqttOptions(password="x"))
    url = "mqtt://bridge:s3cret-pw@127.0.0.1:1883"
    assert "s3cret-pw" not in repr(MqttUrl.parse(url)) + str(MqttUrl.parse(url))
    with pytest.raises(ValueError) as bad:
        MqttUrl.parse("mqtt://bridge:s3cret-pw@127.0.0.1:99999")
    assert "s3cret-pw" not in str(bad.value)
    assert "s3cret-pw" not in repr(BridgeConfig(mqtt_url=url, core_addrs=("a:1",)))
    assert "s3cret-pw" not in repr(CoreConfig(dsn="postgresql://u:s3cret-pw@h/db"))


def test_passwords_over_tls_listener(tmp_path: Path) -> None:
    from binhai._embedded import free_port
    from binhai._embedded._mosquitto import MosquittoProcess
    from binhai._security import BrokerOptions, render_security, write_broker_config

    layout = Layout(tmp_path / "data")
    CertAuthority(layout.ca_dir).init()
    password = IdentityStore(layout).add_password(
        f"{T}/d1", role="device", tenant=T, device_id="d1"
    )
    port = free_port()
    opts = BrokerOptions(listen=f"127.0.0.1:{port}", tls=True, hosts=("localhost", "127.0.0.1"))
    write_broker_config(layout, opts)
    cert, _ = layout.issued_paths("broker")
    first = cert.read_bytes()
    write_broker_config(layout, opts)
    assert cert.read_bytes() == first  # kept while it names the hosts
    exe = find_mosquitto()
    assert exe is not None
    proc = MosquittoProcess(
        exe, tmp_path / "mq", "127.0.0.1", port, security=render_security(layout, opts)
    )
    proc.start(timeout=15)
    try:
        ok = Peer("tls-ok")
        assert ok.connect(
            port, f"{T}/d1", password, tls=(str(layout.ca_dir / "ca.pem"), None, None)
        )
        ok.close()
        plain = Peer("plain")
        assert not plain.connect(port, f"{T}/d1", password)
        plain.close()
    finally:
        proc.stop()
    write_broker_config(
        layout, BrokerOptions(listen=f"127.0.0.1:{port}", tls=True, hosts=("b.example",))
    )
    assert cert.read_bytes() != first  # reissued for the new host name


def test_concurrent_provisioning_loses_nothing(tmp_path: Path) -> None:
    import threading

    from binhai._security import TokenStore

    layout = Layout(tmp_path)
    ids = [f"d{i}" for i in range(12)]

    def provision(dev: str) -> None:
        IdentityStore(layout).add_password(f"{T}/{dev}", role="device", tenant=T, device_id=dev)
        TokenStore(layout.tokens).create(f"tok-{dev}", "reader", T)

    threads = [threading.Thread(target=provision, args=(d,)) for d in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(IdentityStore(layout)) == len(ids)
    assert len(TokenStore(layout.tokens).load()) == len(ids)


def test_simulated_fleet_with_provisioned_credentials(tmp_path: Path) -> None:
    """``device provision-fleet`` then ``sim run --credentials`` on a broker that authenticates:
    every simulated device connects as itself and its batches are accepted (PUBACK)."""
    import json

    from tests.secure_broker import invoke

    sb = SecureBroker(tmp_path)
    creds_file = tmp_path / "fleet.json"
    out = invoke(
        sb.data_dir, "device", "provision-fleet", "--tenant", T, "--devices", "3",
        "--out", str(creds_file),
    )  # fmt: skip
    assert out["devices"] == 3 and _mode(creds_file) == 0o600
    doc = json.loads(creds_file.read_text())
    assert doc["devices"]["dev-00000"]["username"] == f"{T}/dev-00000"
    sb.config()
    sb.start()
    try:
        url = f"mqtt://127.0.0.1:{sb.port}"
        args = ["sim", "run", "--mqtt-url", url, "--duration", "3", "--confirm", "puback"]
        res = CliRunner().invoke(
            cli, [*args, "--devices", "3", "--credentials", str(creds_file), "--json"]
        )
        assert res.exit_code == 0, res.output
        summary = json.loads(res.output.strip().splitlines()[-1])
        assert summary["tenant"] == T and summary["batches_sent"] > 0
        assert summary["batches_acked"] == summary["batches_sent"]
        log = (tmp_path / "mosquitto" / "mosquitto.log").read_text()
        assert all(f"u'{T}/dev-0000{i}'" in log for i in range(3))
        more = CliRunner().invoke(cli, [*args, "--devices", "4", "--credentials", str(creds_file)])
        assert more.exit_code == 2 and "no credentials for dev-00003" in more.output
    finally:
        sb.stop()


def test_tenant_bridge_reads_only_its_tenant(tmp_path: Path) -> None:
    from tests.secure_broker import invoke

    sb = SecureBroker(tmp_path)
    mine = sb.provision(T, "a")["password"]
    theirs = sb.provision("other", "z")["password"]
    bridge_pw = invoke(sb.data_dir, "broker", "bridge-user", "acme-br", "--tenant", T)["password"]
    sb.config()
    assert f"topic read binhai/v1/{T}/+/up" in (sb.layout.broker_dir / "acl").read_text()
    sb.start()
    try:
        bridge = _peer(sb, "acme-br", "acme-br", bridge_pw)
        bridge.subscribe("binhai/v1/+/+/up")  # wider than allowed: other tenants never arrive
        z = _peer(sb, "z", "other/z", theirs)
        a = _peer(sb, "a", f"{T}/a", mine)
        assert not z.publish("binhai/v1/other/z/up", b"theirs").is_failure
        assert not a.publish(f"binhai/v1/{T}/a/up", b"mine").is_failure
        wait_for(lambda: bridge.received() != [])
        time.sleep(0.2)  # time for anything else to arrive
        assert bridge.received() == [(f"binhai/v1/{T}/a/up", b"mine")]
        assert bridge.publish("binhai/v1/other/z/down", b"x").is_failure
        for p in (bridge, z, a):
            p.close()
    finally:
        sb.stop()
