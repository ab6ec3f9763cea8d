"""The authenticated core: bearer tokens, roles, tenant scopes and TLS on a real gRPC server
over a real PostgreSQL, and the bridge's and the CLI's side of it."""

from __future__ import annotations

import asyncio
import logging
import stat
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner
from grpc_health.v1 import health_pb2, health_pb2_grpc

import protos
from binhai._security import CertAuthority, Layout, SecurityError, TokenStore
from binhai.cli import cli
from broker_bridge import BridgeConfig, BridgeError, run_bridge
from cloud_core import CoreConfig, ServerTls, allowed, start_core
from protos.binhai.v1 import query_pb2
from tests.fix_stack import build_batch

pytestmark = pytest.mark.db

DENIED = grpc.StatusCode.PERMISSION_DENIED
UNAUTH = grpc.StatusCode.UNAUTHENTICATED


async def _requests(items: list[protos.IngestRequest]) -> AsyncIterator[protos.IngestRequest]:
    for i, item in enumerate(items, 1):
        item.ref = i
        yield item


async def _code(coro: object) -> grpc.StatusCode:
    try:
        await coro  # type: ignore[misc]
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def test_roles_allow_only_their_rpcs() -> None:
    assert allowed("bridge", "/binhai.v1.Ingest/Stream")
    assert allowed("bridge", "/binhai.v1.Control/Downlinks")
    assert not allowed("bridge", "/binhai.v1.Query/Stats")
    assert allowed("operator", "/binhai.v1.Query/Fleet")
    assert allowed("operator", "/binhai.v1.Control/SendCommand")
    assert not allowed("operator", "/binhai.v1.Ingest/Stream")
    assert not allowed("operator", "/binhai.v1.Control/Downlinks")
    assert allowed("operator", "/binhai.v1.Control/SetPolicy")  # every Control RPC but Downlinks
    assert allowed("reader", "/binhai.v1.Query/Alerts")
    assert not allowed("reader", "/binhai.v1.Control/SendCommand")


def test_token_store_keeps_hashes_only(tmp_path: Path) -> None:
    store = TokenStore(Layout(tmp_path).tokens)
    rec, token = store.create("dash", "reader", "acme")
    text = store.path.read_text()
    assert token.split("_", 2)[2] not in text and rec.sha256 in text
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    auth = store.authenticator()
    principal = auth(token)
    assert principal is not None and (principal.role, principal.tenant) == ("reader", "acme")
    assert auth(token + "x") is None and auth("garbage") is None and auth("bh_12345678_") is None
    with pytest.raises(ValueError, match="one tenant"):
        store.create("r2", "reader")
    with pytest.raises(ValueError, match="every tenant"):
        store.create("b2", "bridge", "acme")
    with pytest.raises(SecurityError, match="exists"):
        store.create("dash", "operator")


def test_token_cli_create_list_revoke(tmp_path: Path) -> None:
    env = {"BINHAI_DATA_DIR": str(tmp_path)}
    runner = CliRunner()
    res = runner.invoke(
        cli, ["token", "create", "ops", "--role", "operator", "--tenant", "acme", "--json"], env=env
    )
    assert res.exit_code == 0, res.output
    token = __import__("json").loads(res.output.splitlines()[-1])["token"]
    listed = runner.invoke(cli, ["token", "list", "--json"], env=env)
    assert '"ops"' in listed.output and token not in listed.output
    assert runner.invoke(cli, ["token", "revoke", "ops"], env=env).exit_code == 0
    again = runner.invoke(cli, ["token", "revoke", "ops"], env=env)
    assert again.exit_code != 0
    bad = runner.invoke(cli, ["token", "create", "x", "--role", "admin"], env=env)
    assert bad.exit_code != 0
    help_ = runner.invoke(cli, ["query", "fleet", "--help"], env={"BINHAI_TOKEN": token})
    assert "--token" in help_.output and token not in help_.output


def test_unauthenticated_wrong_role_and_wrong_tenant_refused(
    tmp_path: Path, migrated_dsn: str, unique_tenant: str, run, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    other = f"{unique_tenant}-other"
    store = TokenStore(Layout(tmp_path).tokens)
    _, bridge_tok = store.create("bridge", "bridge")
    _, reader_tok = store.create("reader", "reader", unique_tenant)
    _, ops_tok = store.create("ops-all", "operator")
    _, ops_one = store.create("ops-one", "operator", unique_tenant)
    tokens = (bridge_tok, reader_tok, ops_tok, ops_one)

    async def go() -> dict[str, object]:
        core = await start_core(
            CoreConfig(dsn=migrated_dsn, listen="127.0.0.1:0", auth=store.authenticator())
        )
        addr = f"127.0.0.1:{core.port}"
        out: dict[str, object] = {}
        try:

            def chan(token: str | None) -> grpc.aio.Channel:
                return protos.core_channel(addr, protos.CoreAuth(token=token))

            async with chan(None) as anon, chan("bh_00000000_nope") as forged:
                out["health"] = await health_pb2_grpc.HealthStub(anon).Check(
                    health_pb2.HealthCheckRequest()
                )
                out["anon_stats"] = await _code(
                    protos.query_pb2_grpc.QueryStub(anon).Stats(protos.StatsRequest())
                )
                out["forged_stats"] = await _code(
                    protos.query_pb2_grpc.QueryStub(forged).Stats(protos.StatsRequest())
                )
                call = protos.ingest_pb2_grpc.IngestStub(anon).Stream(
                    _requests([protos.IngestRequest(batch=build_batch(other, "x", 1))])
                )
                out["anon_ingest"] = await _code(call.read())
            async with chan(bridge_tok) as ch:
                items = [
                    protos.IngestRequest(batch=build_batch(t, "d1", s))
                    for t in (unique_tenant, other)
                    for s in (1, 2, 3)
                ]
                acks = [
                    a async for a in protos.ingest_pb2_grpc.IngestStub(ch).Stream(_requests(items))
                ]
                out["acks"] = len(acks)
                out["bridge_query"] = await _code(
                    protos.query_pb2_grpc.QueryStub(ch).Stats(protos.StatsRequest())
                )
            async with chan(reader_tok) as ch:
                q = protos.query_pb2_grpc.QueryStub(ch)
                out["reader_own"] = await q.Stats(protos.StatsRequest())  # tenant filled in
                out["reader_other"] = await _code(q.Stats(protos.StatsRequest(tenant=other)))
                out["reader_fleet_other"] = await _code(
                    q.Fleet(query_pb2.FleetRequest(tenant=other))
                )
                out["reader_command"] = await _code(
                    protos.control_pb2_grpc.ControlStub(ch).SendCommand(
                        protos.SendCommandRequest(tenant=unique_tenant, device_id="d1")
                    )
                )
                call = protos.ingest_pb2_grpc.IngestStub(ch).Stream(_requests([]))
                out["reader_ingest"] = await _code(call.read())
            async with chan(ops_one) as ch:
                ctl = protos.control_pb2_grpc.ControlStub(ch)
                out["ops_one_other_cmd"] = await _code(
                    ctl.SendCommand(
                        protos.SendCommandRequest(
                            tenant=other,
                            device_id="d1",
                            command=protos.Command(flush=protos.FlushNow()),
                        )
                    )
                )
            async with chan(ops_tok) as ch:
                out["ops_all"] = await protos.query_pb2_grpc.QueryStub(ch).Stats(
                    protos.StatsRequest()
                )
            # Revoked: refused by the running core within a second (it re-reads the file).
            store.revoke("reader")
            time.sleep(1.1)
            async with chan(reader_tok) as ch:
                out["revoked"] = await _code(
                    protos.query_pb2_grpc.QueryStub(ch).Stats(protos.StatsRequest())
                )
            out["denied"] = dict(core.metrics.auth_denied)
            out["metrics"] = core.metrics.render()
        finally:
            await core.stop(5)
        return out

    out = run(go())
    assert out["health"].status == health_pb2.HealthCheckResponse.SERVING  # type: ignore[attr-defined]
    assert out["anon_stats"] == UNAUTH and out["forged_stats"] == UNAUTH
    assert out["anon_ingest"] == UNAUTH
    assert out["acks"] == 6
    assert out["bridge_query"] == DENIED
    own = out["reader_own"]
    assert (own.devices, own.batches) == (1, 3)  # type: ignore[attr-defined]
    assert out["reader_other"] == DENIED and out["reader_fleet_other"] == DENIED
    assert out["reader_command"] == DENIED and out["reader_ingest"] == DENIED
    assert out["ops_one_other_cmd"] == DENIED
    assert out["ops_all"].batches >= 6  # type: ignore[attr-defined]
    assert out["revoked"] == UNAUTH
    # anon Stats, forged Stats, anon Ingest, revoked; bridge query, reader x4, ops-one command
    assert out["denied"] == {"unauthenticated": 4, "permission_denied": 6}
    assert 'binhai_core_auth_denied_total{status="unauthenticated"} 4' in str(out["metrics"])
    assert not any(t in str(out["metrics"]) for t in tokens)
    for record in caplog.records:
        text = record.getMessage()
        assert not any(t in text or t.split("_", 2)[2] in text for t in tokens), text


def test_tls_core_with_token(tmp_path: Path, migrated_dsn: str, run) -> None:
    layout = Layout(tmp_path)
    ca = CertAuthority(layout.ca_dir)
    ca.init()
    server = ca.issue("core", server_hosts=("localhost", "127.0.0.1"))
    store = TokenStore(layout.tokens)
    _, tok = store.create("ops", "operator")

    async def go() -> tuple[int, grpc.StatusCode, grpc.StatusCode]:
        core = await start_core(
            CoreConfig(
                dsn=migrated_dsn,
                listen="127.0.0.1:0",
                auth=store.authenticator(),
                tls=ServerTls(server.cert_pem, server.key_pem),
            )
        )
        addr = f"127.0.0.1:{core.port}"
        try:
            auth = protos.CoreAuth(token=tok, ca_pem=ca.cert_path.read_bytes())
            async with protos.core_channel(addr, auth) as ch:
                st = await protos.query_pb2_grpc.QueryStub(ch).Stats(protos.StatsRequest())
            no_token = protos.CoreAuth(ca_pem=ca.cert_path.read_bytes())
            async with protos.core_channel(addr, no_token) as ch:
                unauth = await _code(
                    protos.query_pb2_grpc.QueryStub(ch).Stats(protos.StatsRequest())
                )
            async with protos.core_channel(addr, protos.CoreAuth(token=tok)) as ch:
                plain = await _code(
                    protos.query_pb2_grpc.QueryStub(ch).Stats(protos.StatsRequest(), timeout=3)
                )
        finally:
            await core.stop(5)
        return st.batches, unauth, plain

    batches, unauth, plain = run(go())
    assert batches >= 0
    assert unauth == UNAUTH
    assert plain in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def test_bridge_with_refused_token_stops_with_reason(
    tmp_path: Path, migrated_dsn: str, mqtt_url: str, run
) -> None:
    store = TokenStore(Layout(tmp_path).tokens)
    _, reader = store.create("reader", "reader", "acme")

    async def go() -> str:
        core = await start_core(
            CoreConfig(dsn=migrated_dsn, listen="127.0.0.1:0", auth=store.authenticator())
        )
        try:
            cfg = BridgeConfig(
                mqtt_url=mqtt_url,
                core_addrs=(f"127.0.0.1:{core.port}",),
                client_id=f"refused-{time.monotonic_ns()}",
                share_group=f"refused{time.monotonic_ns()}",
                tenant="nobody",
                core_auth=protos.CoreAuth(token=reader),
            )
            with pytest.raises(BridgeError) as err:
                await run_bridge(cfg, install_signals=False)
            return str(err.value)
        finally:
            await core.stop(5)

    reason = run(go())
    assert "PERMISSION_DENIED" in reason and reader not in reason


@pytest.fixture
def auth_core(tmp_path: Path, migrated_dsn: str) -> Iterator[tuple[int, TokenStore]]:
    """A core with authentication on, served from its own event loop in a thread."""
    store = TokenStore(Layout(tmp_path).tokens)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    cfg = CoreConfig(dsn=migrated_dsn, listen="127.0.0.1:0", auth=store.authenticator())
    core = asyncio.run_coroutine_threadsafe(start_core(cfg), loop).result(30)
    try:
        yield core.port, store
    finally:
        asyncio.run_coroutine_threadsafe(core.stop(5), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_query_cli_takes_the_token_from_env_or_toml(
    auth_core: tuple[int, TokenStore], tmp_path: Path, unique_tenant: str
) -> None:
    port, store = auth_core
    _, token = store.create("dash", "reader", unique_tenant)
    runner = CliRunner()
    args = ["query", "fleet", "--core-addr", f"127.0.0.1:{port}", "--json"]
    refused = runner.invoke(cli, args, env={"BINHAI_TOKEN": ""})
    assert refused.exit_code == 1 and "UNAUTHENTICATED" in refused.output
    ok = runner.invoke(cli, args, env={"BINHAI_TOKEN": token})
    assert ok.exit_code == 0, ok.output
    cfg = tmp_path / "binhai.toml"
    cfg.write_text(f'token = "{token}"\n')
    from_toml = runner.invoke(cli, ["--config", str(cfg), *args])
    assert from_toml.exit_code == 0, from_toml.output
    other = runner.invoke(cli, [*args, "--tenant", "someone-else"], env={"BINHAI_TOKEN": token})
    assert other.exit_code == 1 and "PERMISSION_DENIED" in other.output
    assert token not in refused.output + other.output


def test_client_certificates_authenticate_by_common_name(
    tmp_path: Path, migrated_dsn: str, unique_tenant: str, run
) -> None:
    """With a client CA, a verified certificate whose CN names a token acts as that token."""
    layout = Layout(tmp_path)
    ca = CertAuthority(layout.ca_dir)
    ca.init()
    server = ca.issue("core", server_hosts=("localhost", "127.0.0.1"))
    store = TokenStore(layout.tokens)
    store.create("dash", "reader", unique_tenant)
    certs = {name: ca.issue(name) for name in ("dash", "stranger")}
    ca_pem = ca.cert_path.read_bytes()

    def auth(name: str) -> protos.CoreAuth:
        c = certs[name]
        return protos.CoreAuth(ca_pem=ca_pem, cert_pem=c.cert_pem, key_pem=c.key_pem)

    async def go() -> dict[str, object]:
        core = await start_core(
            CoreConfig(
                dsn=migrated_dsn,
                listen="127.0.0.1:0",
                auth=store.authenticator(),
                auth_by_certificate=store.certificate_names(),
                tls=ServerTls(server.cert_pem, server.key_pem, client_ca_pem=ca_pem),
            )
        )
        addr = f"127.0.0.1:{core.port}"
        out: dict[str, object] = {}
        try:
            async with protos.core_channel(addr, auth("dash")) as ch:
                q = protos.query_pb2_grpc.QueryStub(ch)
                out["own"] = await _code(q.Stats(protos.StatsRequest()))
                out["other"] = await _code(q.Stats(protos.StatsRequest(tenant="someone-else")))
                call = protos.ingest_pb2_grpc.IngestStub(ch).Stream(_requests([]))
                out["ingest"] = await _code(call.read())
            async with protos.core_channel(addr, auth("stranger")) as ch:
                q = protos.query_pb2_grpc.QueryStub(ch)
                out["stranger"] = await _code(q.Stats(protos.StatsRequest()))
            no_cert = protos.CoreAuth(ca_pem=ca_pem)
            async with protos.core_channel(addr, no_cert) as ch:
                q = protos.query_pb2_grpc.QueryStub(ch)
                out["no_cert"] = await _code(q.Stats(protos.StatsRequest(), timeout=3))
            store.revoke("dash")
            time.sleep(1.1)
            async with protos.core_channel(addr, auth("dash")) as ch:
                q = protos.query_pb2_grpc.QueryStub(ch)
                out["revoked"] = await _code(q.Stats(protos.StatsRequest()))
        finally:
            await core.stop(5)
        return out

    out = run(go())
    assert out["own"] == grpc.StatusCode.OK
    assert out["other"] == DENIED and out["ingest"] == DENIED
    assert out["stranger"] == UNAUTH and out["revoked"] == UNAUTH
    assert out["no_cert"] == grpc.StatusCode.UNAVAILABLE  # mutual TLS: no handshake


def test_cli_client_certificate_options_are_checked(tmp_path: Path) -> None:
    pem = tmp_path / "x.pem"
    pem.write_text("not used")
    runner = CliRunner()
    base = ["query", "fleet", "--core-addr", "127.0.0.1:1"]
    res = runner.invoke(cli, [*base, "--core-cert", str(pem), "--core-ca", str(pem)])
    assert res.exit_code == 2 and "go together" in res.output
    res = runner.invoke(cli, [*base, "--core-cert", str(pem), "--core-key", str(pem)])
    assert res.exit_code == 2 and "needs --core-ca" in res.output
    res = runner.invoke(cli, [*base, "--core-ca", str(tmp_path / "missing.pem")])
    assert res.exit_code == 2
