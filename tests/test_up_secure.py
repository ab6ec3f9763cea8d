"""The one-machine deployment with authentication on (what ``binhai up`` runs by default when
the broker is mosquitto): a simulated fleet with its own broker identities, a bridge with its
own identity and token, a core that refuses the unauthenticated — and nothing lost, no secret
in any log."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

import protos
from binhai._audit import wait_stored
from binhai._embedded import find_mosquitto, probe_mqtt
from binhai._stack import Stack
from firmware_sim import Fleet, FleetConfig, device_ids

pytestmark = [
    pytest.mark.db,
    pytest.mark.broker,
    pytest.mark.skipif(find_mosquitto() is None, reason="mosquitto not installed"),
]


async def _stats_code(addr: str) -> grpc.StatusCode:
    async with protos.core_channel(addr) as ch:
        try:
            await protos.query_pb2_grpc.QueryStub(ch).Stats(protos.StatsRequest(), timeout=10)
        except grpc.aio.AioRpcError as exc:
            return exc.code()
    return grpc.StatusCode.OK


def test_secure_stack_stores_everything_and_leaks_nothing(
    tmp_path: Path, migrated_dsn: str, unique_tenant: str
) -> None:
    with Stack(tmp_path, dsn=migrated_dsn, secure=True, verbose=True) as stack:
        assert stack.broker is not None and stack.security is not None
        host, port = stack.broker.host, stack.broker.port
        assert probe_mqtt(host, port, accept_refused=True)
        assert not probe_mqtt(host, port)  # anonymous refused
        assert asyncio.run(_stats_code(stack.core_addrs[0])) == grpc.StatusCode.UNAUTHENTICATED
        cfg = FleetConfig(
            devices=4,
            duration_s=4.0,
            tenant=unique_tenant,
            broker_url=str(stack.mqtt_url),
            data_dir=tmp_path / "devices",
            reconnect_spread_s=0.5,
        )
        creds = stack.provision_devices(unique_tenant, device_ids(cfg))
        assert not probe_mqtt(host, port, username=creds["dev-00000"][0], password="wrong")
        report = Fleet(cfg, credentials=creds.__getitem__).run()
        result = wait_stored(migrated_dsn, unique_tenant, report.seq_ranges, timeout=60)
        secrets = [
            stack.security.bridge_password,
            stack.security.bridge_token,
            *(password for _, password in creds.values()),
        ]
    assert result["lost"] == 0 and result["batches_stored"] == report.batches_sent > 0
    logs = {p: p.read_text(errors="replace") for p in tmp_path.rglob("*.log")}
    assert any("bridge-0" in p.name for p in logs) and any("mosquitto" in p.name for p in logs)
    broker_log = next(t for p, t in logs.items() if p.name == "mosquitto.log")
    assert f"u'{unique_tenant}/dev-00000'" in broker_log  # the device connected as itself
    for path, text in logs.items():
        for secret in secrets:
            assert secret not in text, f"a secret in {path}"
