"""cloud_core against the real PostgreSQL: migrations, storage, dedup, dead letters, gRPC."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import grpc
import psycopg
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

import protos
from cloud_core import MIGRATIONS, CoreConfig, Store, current_version, migrate, start_core, stats
from tests.fix_stack import build_batch

pytestmark = pytest.mark.db

STORED = protos.IngestAck.Status.STATUS_STORED
REJECTED = protos.IngestAck.Status.STATUS_REJECTED


def test_migrate_is_idempotent_and_versioned(migrated_dsn, run):
    assert run(migrate(migrated_dsn)) == []

    async def version() -> int:
        async with await psycopg.AsyncConnection.connect(migrated_dsn) as conn:
            return await current_version(conn)

    assert run(version()) == MIGRATIONS[-1].version


def _req(batch: protos.TelemetryBatch) -> protos.IngestRequest:
    return protos.IngestRequest(batch=batch)


def test_store_dedups_on_device_and_seq(migrated_dsn, unique_tenant, run):
    async def go():
        store = Store(migrated_dsn)
        await store.open()
        try:
            first = await store.write([_req(build_batch(unique_tenant, "d1", s)) for s in (1, 2)])
            again = await store.write(
                [_req(build_batch(unique_tenant, "d1", s)) for s in (2, 3, 3)]
            )
            async with store.pool.connection() as conn:
                st = await stats(conn, unique_tenant)
                cur = await conn.execute(
                    "SELECT count(*) FROM windows WHERE tenant = %s", (unique_tenant,)
                )
                n_windows = (await cur.fetchone())[0]
            return first, again, st, n_windows
        finally:
            await store.close()

    first, again, st, n_windows = run(go())
    assert [o.duplicate for o in first] == [False, False]
    assert [(o.stored, o.duplicate) for o in again] == [(True, True), (True, False), (True, True)]
    assert st.batches == 3 and st.devices == 1
    assert n_windows == 6 == st.windows


def test_store_rejects_invalid_batches_into_dead_letters(migrated_dsn, unique_tenant, run):
    bad_sensor = build_batch(unique_tenant, "d1", 1)
    bad_sensor.windows[0].sensor = "bad\x00name"
    no_features = build_batch(unique_tenant, "d1", 2)
    no_features.windows[1].ClearField("features")
    bad_rate = build_batch(unique_tenant, "d1", 3)
    bad_rate.windows[0].rate_hz = float("nan")
    good = build_batch(unique_tenant, "d1", 4)

    async def go():
        store = Store(migrated_dsn)
        await store.open()
        try:
            out = await store.write([_req(b) for b in (bad_sensor, no_features, bad_rate, good)])
            async with store.pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT reason FROM dead_letters WHERE tenant = %s ORDER BY id",
                    (unique_tenant,),
                )
                reasons = [r[0] for r in await cur.fetchall()]
                st = await stats(conn, unique_tenant)
            return out, reasons, st
        finally:
            await store.close()

    out, reasons, st = run(go())
    assert [o.status for o in out] == [REJECTED, REJECTED, REJECTED, STORED]
    assert len(reasons) == 3
    assert "sensor" in reasons[0] and "features missing" in reasons[1] and "rate" in reasons[2]
    assert st.batches == 1 and st.dead_letters == 3


def test_gaps_are_explained_by_reported_evictions(migrated_dsn, unique_tenant, run):
    batches = [build_batch(unique_tenant, "d1", s) for s in (1, 2, 5, 9)]
    # seq 3..4 evicted on the device and reported with batch 5; 6..8 missing unexplained
    batches[2].evicted.add(first=3, last=4, reason="outbox_full")

    async def go():
        store = Store(migrated_dsn)
        await store.open()
        try:
            await store.write([_req(b) for b in batches])
            async with store.pool.connection() as conn:
                return await stats(conn, unique_tenant)
        finally:
            await store.close()

    st = run(go())
    assert (st.gaps_explained, st.gaps_unexplained) == (2, 3)


async def _requests(items: list[protos.IngestRequest]) -> AsyncIterator[protos.IngestRequest]:
    for i, item in enumerate(items, 1):
        item.ref = i
        yield item


def test_grpc_core_serves_health_reflection_ingest_and_query(migrated_dsn, unique_tenant, run):
    async def go():
        core = await start_core(CoreConfig(dsn=migrated_dsn, listen="127.0.0.1:0"))
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{core.port}") as ch:
                health = await health_pb2_grpc.HealthStub(ch).Check(
                    health_pb2.HealthCheckRequest(service="binhai.v1.Ingest")
                )
                refl = reflection_pb2_grpc.ServerReflectionStub(ch).ServerReflectionInfo(
                    iter([reflection_pb2.ServerReflectionRequest(list_services="")])
                )
                services = [s.name async for r in refl for s in r.list_services_response.service]
                items = [_req(build_batch(unique_tenant, f"d{s % 3}", s)) for s in range(1, 41)]
                items += [_req(build_batch(unique_tenant, "d1", 1))]  # redelivery
                items.append(
                    protos.IngestRequest(
                        dead_letter=protos.DeadLetter(
                            topic=f"binhai/v1/{unique_tenant}/d1/up", reason="test", payload=b"\x01"
                        )
                    )
                )
                acks = [
                    a async for a in protos.ingest_pb2_grpc.IngestStub(ch).Stream(_requests(items))
                ]
                query = protos.query_pb2_grpc.QueryStub(ch)
                st = await query.Stats(protos.StatsRequest(tenant=unique_tenant))
                series = await query.Series(
                    protos.SeriesRequest(
                        tenant=unique_tenant,
                        device_id="d1",
                        sensor="accel",
                        feature="std",
                        start_ns=0,
                    )
                )
                with pytest.raises(grpc.aio.AioRpcError) as bad:
                    await query.Series(
                        protos.SeriesRequest(
                            tenant=unique_tenant, device_id="d1", sensor="accel", feature="nope"
                        )
                    )
            return health, services, acks, st, series, bad.value.code()
        finally:
            await core.stop(5)

    health, services, acks, st, series, bad_code = run(go())
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert {"binhai.v1.Ingest", "binhai.v1.Query", "grpc.health.v1.Health"} <= set(services)
    assert sorted(a.ref for a in acks) == list(range(1, 43))
    assert sum(a.duplicate for a in acks) == 1
    assert all(a.status == STORED for a in acks)
    assert (st.batches, st.devices, st.dead_letters) == (40, 3, 1)
    # d1 has seqs 1, 4, 7, ..., 40: 14 batches of 2 windows; values are real std features
    assert len(series.values) == 28 and all(0.5 < v < 1.5 for v in series.values)
    assert list(series.t_ns) == sorted(series.t_ns)
    assert bad_code == grpc.StatusCode.INVALID_ARGUMENT


def test_writer_survives_terminated_connections(migrated_dsn, unique_tenant, run):
    """pg_terminate_backend mid-ingest: the writer retries, every batch is stored once."""

    async def go():
        core = await start_core(CoreConfig(dsn=migrated_dsn, listen="127.0.0.1:0"))
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{core.port}") as ch:
                stub = protos.ingest_pb2_grpc.IngestStub(ch)

                async def killer() -> int:
                    killed = 0
                    async with await psycopg.AsyncConnection.connect(
                        migrated_dsn, autocommit=True
                    ) as conn:
                        for _ in range(5):
                            await asyncio.sleep(0.05)
                            cur = await conn.execute(
                                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                                " AND backend_type = 'client backend'"
                            )
                            killed += (await cur.fetchone())[0]
                    return killed

                async def feed() -> AsyncIterator[protos.IngestRequest]:
                    for s in range(1, 301):
                        yield protos.IngestRequest(ref=s, batch=build_batch(unique_tenant, "d", s))
                        if s % 20 == 0:
                            await asyncio.sleep(0.02)

                kill = asyncio.create_task(killer())
                acks = [a async for a in stub.Stream(feed())]
                killed = await kill
            async with core.store.pool.connection() as conn:
                st = await stats(conn, unique_tenant)
            return acks, st, killed
        finally:
            await core.stop(5)

    acks, st, killed = run(go())
    assert killed > 0
    assert len(acks) == 300 and all(a.status == STORED for a in acks)
    assert st.batches == 300 and st.gaps_unexplained == 0


def test_stats_count_rate_limited_dead_letters_apart(migrated_dsn, unique_tenant, run):
    from click.testing import CliRunner

    from binhai.cli import cli

    topic = protos.topic_for(unique_tenant, "d1", "up")
    letters = [
        protos.IngestRequest(
            dead_letter=protos.DeadLetter(
                topic=topic, reason=reason, payload_size=100, received_at_ns=time.time_ns()
            )
        )
        for reason in ("rate_limited: device msgs/s", "rate_limited: tenant bytes/s", "bad crc")
    ]

    async def go():
        store = Store(migrated_dsn)
        await store.open()
        try:
            await store.write(letters)
            async with store.pool.connection() as conn:
                st = await stats(conn, unique_tenant)
        finally:
            await store.close()
        core = await start_core(CoreConfig(dsn=migrated_dsn, listen="127.0.0.1:0"))
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{core.port}") as ch:
                query = protos.query_pb2_grpc.QueryStub(ch)
                reply = await query.Stats(protos.StatsRequest(tenant=unique_tenant))
        finally:
            await core.stop(5)
        return st, reply

    st, reply = run(go())
    assert (st.dead_letters, st.dead_letters_rate_limited) == (3, 2)
    assert (reply.dead_letters, reply.dead_letters_rate_limited) == (3, 2)
    done = CliRunner().invoke(
        cli, ["db", "stats", "--dsn", migrated_dsn, "--tenant", unique_tenant, "--json"]
    )
    assert done.exit_code == 0, done.output
    shown = json.loads(done.output.strip().splitlines()[-1])
    assert (shown["dead_letters"], shown["dead_letters_rate_limited"]) == (3, 2)
