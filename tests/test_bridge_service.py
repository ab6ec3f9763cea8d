"""Bridge and core as services: metrics endpoints, re-routing between cores, graceful drain."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator

import grpc
import psycopg
import pytest

import protos
from binhai._audit import wait_stored
from broker_bridge import CoreLink
from cloud_core import CoreConfig, start_core
from firmware_sim import Fleet, FleetConfig
from tests.fix_stack import build_batch
from tests.fleet_bg import BackgroundFleet

pytestmark = [pytest.mark.db, pytest.mark.broker]

STORED = protos.IngestAck.Status.STATUS_STORED


def _count(dsn: str, tenant: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM batches WHERE tenant = %s", (tenant,)).fetchone()
    return int(row[0]) if row else 0


def test_bridge_and_core_serve_prometheus_metrics(stack, tmp_path, mqtt_url, unique_tenant):
    st = stack()
    cfg = FleetConfig(
        tenant=unique_tenant, broker_url=mqtt_url, data_dir=tmp_path / "d", devices=3,
        duration_s=6, speed=6,
    )  # fmt: skip
    report = Fleet(cfg).run()
    deadline = time.monotonic() + 30
    while (core := st.metrics("core-0"))["binhai_core_ingest_batches_total"] < report.batches_sent:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    bridge = st.metrics("bridge-0")
    assert bridge["binhai_bridge_received_total"] >= report.batches_sent
    assert bridge["binhai_bridge_acked_total"] >= report.batches_sent
    assert bridge["binhai_bridge_connected"] == 1
    assert bridge[f'binhai_bridge_core_up{{core="{st.core_addrs[0]}"}}'] == 1
    assert core["binhai_core_ingest_samples_total"] > 0
    assert core["binhai_core_flush_seconds_count"] >= 1
    assert core["binhai_core_batch_seconds_count"] >= report.batches_sent
    for name in ("dead_letters_total", "dedup_hits_total", "conformance_mismatches_total",
                 "queue_depth", "bridges_connected"):  # fmt: skip
        assert f"binhai_core_{name}" in core


class _BlackHole(protos.ingest_pb2_grpc.IngestServicer):
    """A core that reads requests and never acks them (then dies)."""

    def __init__(self) -> None:
        self.read = 0

    async def Stream(self, request_iterator, context):  # type: ignore[no-untyped-def]
        await context.send_initial_metadata(())
        async for msg in request_iterator:
            self.read += len(msg.bundle.items) if msg.WhichOneof("item") == "bundle" else 1
        yield protos.IngestAck()  # never reached while the client keeps the stream open


def test_requests_pending_on_a_dead_core_move_to_a_live_one(migrated_dsn, unique_tenant, run):
    async def go():
        hole = _BlackHole()
        dead = grpc.aio.server()
        protos.ingest_pb2_grpc.add_IngestServicer_to_server(hole, dead)
        dead_port = dead.add_insecure_port("127.0.0.1:0")
        await dead.start()
        core = await start_core(CoreConfig(dsn=migrated_dsn, listen="127.0.0.1:0"))
        link = CoreLink([f"127.0.0.1:{dead_port}", f"127.0.0.1:{core.port}"])
        link.start()
        try:
            while not all(c["up"] for c in link.per_core().values()):
                await asyncio.sleep(0.02)
            futs = [
                link.send(protos.IngestRequest(batch=build_batch(unique_tenant, "d1", s)))
                for s in range(1, 41)
            ]
            while hole.read < 20:  # round robin: half went to the black hole
                await asyncio.sleep(0.02)
            assert not any(f.done() for f in futs[0::2])
            await dead.stop(0)
            acks = await asyncio.wait_for(asyncio.gather(*futs), 20)
            return acks, link.rerouted
        finally:
            await link.close()
            await core.stop(5)

    acks, rerouted = run(go())
    assert all(a.status == STORED for a in acks)
    assert rerouted >= 20
    assert _count(migrated_dsn, unique_tenant) == 40


async def _endless(tenant: str, sent: list[int]) -> AsyncIterator[protos.IngestRequest]:
    for seq in range(1, 100_000):
        sent.append(seq)
        yield protos.IngestRequest(ref=seq, batch=build_batch(tenant, "d1", seq, windows=1))
        if seq % 50 == 0:
            await asyncio.sleep(0)


def test_drain_acks_everything_it_read_and_ends_streams_unavailable(
    migrated_dsn, unique_tenant, run
):
    async def go():
        core = await start_core(CoreConfig(dsn=migrated_dsn, listen="127.0.0.1:0"))
        sent: list[int] = []
        acks: list[protos.IngestAck] = []
        async with grpc.aio.insecure_channel(f"127.0.0.1:{core.port}") as ch:
            call = protos.ingest_pb2_grpc.IngestStub(ch).Stream(_endless(unique_tenant, sent))

            async def collect() -> None:
                async for ack in call:
                    acks.extend((ack, *ack.more))

            reader = asyncio.create_task(collect())
            while len(acks) < 200:
                await asyncio.sleep(0.01)
            await core.stop(10)  # what `binhai core serve` does on SIGTERM
            with pytest.raises(grpc.aio.AioRpcError) as ended:
                await reader
        return acks, ended.value.code(), sent

    acks, code, sent = run(go())
    # UNAVAILABLE from the draining core; grpc's client reports INTERNAL instead when its own
    # next write races the end of the call. Either way the bridge reconnects and resends.
    assert code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL)
    refs = sorted(a.ref for a in acks)
    assert refs == list(range(1, len(refs) + 1))  # nothing read was left unacked in between
    assert len(sent) > len(refs)  # the client was still sending when the drain began
    # Every acked batch is stored, and nothing was committed without its ack.
    assert _count(migrated_dsn, unique_tenant) == len(refs)


@pytest.mark.slow
def test_sigterm_on_a_core_under_load_drains_and_loses_nothing(
    stack, tmp_path, mqtt_url, migrated_dsn, unique_tenant
):
    st = stack()
    fleet = BackgroundFleet(
        unique_tenant, mqtt_url, tmp_path / "d", devices=10, duration_s=24, speed=3
    )
    time.sleep(3)
    st.kill("core-0", signal.SIGTERM)
    proc = st.procs["core-0"]
    assert proc.popen is not None and proc.popen.returncode == 0
    assert "core drained" in proc.log_path.read_text()
    st.start_proc("core-0")
    report = fleet.join()
    result = wait_stored(migrated_dsn, unique_tenant, report.seq_ranges, timeout=60)
    assert result["lost"] == 0 and result["duplicates"] == 0
    assert result["batches_stored"] == report.batches_sent
