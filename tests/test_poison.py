"""Poison-proof ingest: crafted input is refused before it costs memory, one bad item never
fails a flush, the writer survives what it cannot store, and statistics stay bounded in cost."""

from __future__ import annotations

import asyncio
import time
import tracemalloc

import numpy as np
import psycopg
import pytest
from psycopg import sql

import kernels
import protos
from cloud_core import (
    MAX_SEQ,
    CoreConfig,
    CoreError,
    IngestLimits,
    Metrics,
    Store,
    migrate,
    start_core,
    stats,
)
from cloud_core._writer import Writer, WriterConfig
from tests.fix_stack import build_batch

pytestmark = pytest.mark.db

STORED = protos.IngestAck.Status.STATUS_STORED
REJECTED = protos.IngestAck.Status.STATUS_REJECTED


def _bomb_stream(claimed: int = 2**32 - 1, block: int = 65535) -> bytes:
    """A codec stream whose header claims ``claimed`` samples and that passes the decoder's
    length check (one byte per block): ~16 GiB if the header were trusted."""
    header = bytes([0xB7, 0x5A, 1, 0]) + claimed.to_bytes(4, "little") + block.to_bytes(2, "little")
    return header + bytes(-(-claimed // block))


def test_codec_refuses_a_lying_header_before_allocating() -> None:
    bomb = _bomb_stream()
    tracemalloc.start()
    try:
        for kw in ({"expected": 768}, {"max_samples": 1 << 20}):
            with pytest.raises(kernels.CodecError, match="header claims 4294967295"):
                kernels.decode_samples(bomb, **kw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
    x = np.linspace(0, 1, 300, dtype=np.float32)
    good = kernels.encode_samples(x)
    assert kernels.decode_samples(good, expected=300, max_samples=300).tobytes() == x.tobytes()
    with pytest.raises(kernels.CodecError, match="expected 301"):
        kernels.decode_samples(good, expected=301)


def _req(b: protos.TelemetryBatch) -> protos.IngestRequest:
    return protos.IngestRequest(batch=b)


async def _write(dsn: str, reqs: list[protos.IngestRequest], **kw: object):
    store = Store(dsn, **kw)  # type: ignore[arg-type]
    await store.open()
    try:
        return await store.write(reqs)
    finally:
        await store.close()


def _crafted(tenant: str) -> dict[str, protos.TelemetryBatch]:
    """Batches that decode but must each be refused, one reason each."""
    out: dict[str, protos.TelemetryBatch] = {}
    b = build_batch(tenant, "p", 101, raw=True)
    b.windows[0].raw.data = _bomb_stream()
    out["header claims 4294967295 samples, expected 64"] = b
    b = build_batch(tenant, "p", 102, raw=True)
    b.windows[0].channels, b.windows[0].n_samples = 63, 1 << 20  # ~250 MB if decoded
    out["bad shape 63x1048576"] = b
    b = build_batch(tenant, "p", 103, raw=True)
    for _ in range(8):  # 10 windows of 4 MiB each: over the batch's decode budget
        w = b.windows.add()
        w.CopyFrom(b.windows[0])
    for w in b.windows:
        w.channels, w.n_samples = 16, 1 << 16
    out["decode to 41943040 bytes, limit 33554432"] = b
    b = build_batch(tenant, "p", 104)
    b.evicted.add(first=1, last=3, reason="full\x00nul")  # fine: the NUL is escaped
    b.windows[0].features.algo_version = 2**32 - 1
    out["algo_version 4294967295 too large"] = b
    b = build_batch(tenant, "p", 105)
    b.windows[1].raw.codec = 70_000  # type: ignore[assignment]
    b.windows[1].raw.data = b"\0" * 4
    out["unknown raw codec 70000"] = b
    b = build_batch(tenant, "p", 2**63 - 1, t0_ns=time.time_ns())
    out["out of range"] = b
    b = build_batch(tenant, "p", 106)
    b.evicted.add(first=5, last=106, reason="outbox_full")
    out["must lie below seq 106"] = b
    b = build_batch(tenant, "p", 107, t0_ns=time.time_ns() + 3 * 86_400 * 10**9)
    out["ahead"] = b
    b = build_batch(tenant, "p", 108, t0_ns=-(10**18))
    out["before 1970"] = b
    return out


def test_crafted_values_dead_letter_only_their_batch_in_one_flush(migrated_dsn, unique_tenant, run):
    crafted = _crafted(unique_tenant)
    good = [build_batch(unique_tenant, "g", s, raw=bool(s % 2)) for s in range(1, 6)]
    nul = build_batch(unique_tenant, "g", 6)
    nul.evicted.add(first=2, last=3, reason="reason\x00with a NUL")
    reqs = [_req(b) for b in (*good[:3], *crafted.values(), *good[3:], nul)]
    out = run(_write(migrated_dsn, reqs))  # one flush: it must not raise nor need splitting
    bad = out[3 : 3 + len(crafted)]
    assert [o.status for o in out[:3] + out[3 + len(crafted) :]] == [STORED] * 6
    for (why, _), o in zip(crafted.items(), bad, strict=True):
        assert o.status == REJECTED and why in o.reason, (why, o.reason)
    with psycopg.connect(migrated_dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM dead_letters WHERE tenant = %s", (unique_tenant,)
        ).fetchone()
        reason = conn.execute(
            "SELECT reason FROM evictions WHERE tenant = %s AND device_id = 'g'", (unique_tenant,)
        ).fetchone()
    assert row is not None and row[0] == len(crafted)
    assert reason is not None and reason[0] == "reason\\0with a NUL"


def test_gap_statistics_stay_bounded_whatever_the_seq(migrated_dsn, unique_tenant, run):
    far = build_batch(unique_tenant, "far", MAX_SEQ, t0_ns=time.time_ns())
    far.evicted.add(first=2, last=MAX_SEQ - 10, reason="outbox_full")
    reqs = [_req(build_batch(unique_tenant, "far", 1)), _req(far)]
    assert [o.status for o in run(_write(migrated_dsn, reqs))] == [STORED, STORED]

    async def go():
        async with await psycopg.AsyncConnection.connect(
            migrated_dsn, options="-c statement_timeout=5000"
        ) as conn:
            t0 = time.monotonic()
            st = await stats(conn, unique_tenant)
            return st, time.monotonic() - t0

    st, _seconds = run(go())
    assert (st.gaps_explained, st.gaps_unexplained) == (MAX_SEQ - 11, 9)


class _FailingStore(Store):
    """A store that fails, unexpectedly, on every write — dead letters included."""

    async def write(self, requests):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")


def test_writer_survives_then_fails_loudly_and_close_raises(migrated_dsn, unique_tenant, run):
    async def go():
        store = _FailingStore(migrated_dsn)
        await store.open()
        failures: list[str] = []
        writer = Writer(store, Metrics(), WriterConfig(concurrency=1), on_failure=failures.append)
        writer.supervisor.window_s = 60.0
        writer.supervisor._first = writer.supervisor._cap = 0.01
        writer.start()
        try:
            errors = []
            for seq in range(1, 30):
                try:
                    fut = await writer.submit(_req(build_batch(unique_tenant, "w", seq)))
                    await fut
                except CoreError as exc:
                    errors.append(exc)
                if writer.failed.is_set():
                    break
                await asyncio.sleep(0.02)
            with pytest.raises(CoreError):
                await writer.submit(_req(build_batch(unique_tenant, "w", 99)))
            return errors, failures, writer
        finally:
            with pytest.raises(CoreError, match="RuntimeError: boom"):
                await writer.close()
            await store.close()

    errors, failures, writer = run(go())
    assert len(errors) >= 5 and writer.supervisor.restarts == 5
    assert len(failures) == 1 and "ingest writer" in failures[0]


def test_core_is_not_serving_while_it_cannot_store(private_dsn, unique_tenant, run):
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    run(migrate(private_dsn))
    name = psycopg.conninfo.conninfo_to_dict(private_dsn)["dbname"]

    def allow(on: bool) -> None:
        admin = psycopg.conninfo.make_conninfo(private_dsn, dbname="postgres")
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(
                    sql.Identifier(str(name)), sql.Literal(on)
                )
            )
            if not on:
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (name,),
                )

    async def go():
        core = await start_core(CoreConfig(dsn=private_dsn, listen="127.0.0.1:0", maintenance=None))
        seen = []
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{core.port}") as ch:
                health = health_pb2_grpc.HealthStub(ch)

                async def status() -> int:
                    req = health_pb2.HealthCheckRequest(service="binhai.v1.Ingest")
                    return (await health.Check(req)).status

                seen.append(await status())
                await asyncio.to_thread(allow, False)
                fut = await core.writer.submit(_req(build_batch(unique_tenant, "h", 1)))
                deadline = time.monotonic() + 20
                while (s := await status()) == health_pb2.HealthCheckResponse.SERVING:
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.05)
                seen.append(s)
                await asyncio.to_thread(allow, True)
                outcome = await asyncio.wait_for(fut, 30)
                seen.append(await status())
                return seen, outcome
        finally:
            await core.stop(5)

    seen, outcome = run(go())
    serving, not_serving = (
        health_pb2.HealthCheckResponse.SERVING,
        health_pb2.HealthCheckResponse.NOT_SERVING,
    )
    assert seen == [serving, not_serving, serving]
    assert outcome.status == STORED


def test_limits_are_configurable(migrated_dsn, unique_tenant, run):
    b = build_batch(unique_tenant, "l", 1, windows=3)
    out = run(_write(migrated_dsn, [_req(b)], limits=IngestLimits(max_batch_windows=2)))
    assert out[0].status == REJECTED and "3 windows, limit 2" in out[0].reason


def test_requests_submitted_together_are_split_into_parts_that_fit_a_flush(
    migrated_dsn, unique_tenant, run
):
    """A bundle is queued in parts of at most ``max_batch`` requests within the flush's decode
    budget (a request alone may exceed it), answered part by part in order, each outcome its
    own request's; a bad request in a part is rejected alone."""
    raw = [_req(build_batch(unique_tenant, "b", seq, raw=True)) for seq in range(1, 4)]
    one = 4 * sum(w.channels * w.n_samples for w in raw[0].batch.windows)
    feats = [_req(build_batch(unique_tenant, "b", seq)) for seq in range(4, 9)]
    bad = _req(build_batch(unique_tenant, "b", 0))  # seq 0: refused by the core's checks
    reqs = [*raw, *feats[:2], bad, *feats[2:]]

    async def go():
        limits = IngestLimits(max_flush_decoded_bytes=2 * one)
        store = Store(migrated_dsn, limits=limits)
        await store.open()
        writer = Writer(store, Metrics(), WriterConfig(max_batch=3, concurrency=1))
        writer.start()
        try:
            parts = await writer.submit_many(reqs)
            answered = [await fut for _, fut in parts]
            return [[r.batch.seq for r in p] for p, _ in parts], answered
        finally:
            await writer.close()
            await store.close()

    seqs, answered = run(go())
    # raw windows: two fit the decode budget, the third starts a part; then max_batch = 3
    assert seqs == [[1, 2], [3, 4, 5], [0, 6, 7], [8]]
    statuses = [o.status for part in answered for o in part]
    assert statuses == [STORED] * 5 + [REJECTED] + [STORED] * 3
    assert "seq 0 out of range" in answered[2][0].reason
