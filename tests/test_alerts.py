"""Alerts in the core: windows judged in the ingest transaction, episodes stored in ``alerts``
exactly once (redeliveries, several cores), the Alerts query, the CLI and the metrics."""

from __future__ import annotations

import asyncio
import json
import random
import time

import grpc
import numpy as np
import psycopg
import pytest
from click.testing import CliRunner

import kernels
import protos
from binhai.cli import cli
from cloud_core import AlertTracker, CoreConfig, Judge, Store, start_core, window_evidence
from cloud_core._alerting import window_ns
from protos.binhai.v1 import query_pb2 as q

pytestmark = pytest.mark.db

S = 10**9
IMPACT = int(protos.WindowFlag.FLAG_IMPACT)
SPIKE = int(protos.WindowFlag.FLAG_SPIKE)
NOISE = int(protos.WindowFlag.FLAG_NOISE)
RATE = 50.0
N = 128  # samples per window: 2.56 s
W_NS = round(N * S / RATE)


def add_compact(
    b: protos.TelemetryBatch,
    sensor: str,
    t0_ns: int,
    flags: int,
    *,
    channels: int = 3,
    index: tuple[int, ...] = (0, 1, 4),
    values: np.ndarray | None = None,
    novelty: float = 5.0,
) -> protos.Window:
    """A COMPACT window: flags, novelty and a float16 feature subset."""
    w = b.windows.add(
        sensor=sensor,
        t0_ns=t0_ns,
        rate_hz=RATE,
        channels=channels,
        n_samples=N,
        offload=protos.Offload.OFFLOAD_COMPACT,
        novelty=novelty,
        flags=flags,
    )
    w.compact.index.extend(index)
    v = np.arange(channels * len(index)) / 8.0 if values is None else values
    w.compact.half = np.asarray(v, dtype="<f2").tobytes()
    return w


def _batch(tenant: str, device: str, seq: int, windows: list[tuple[str, int, int]]):
    b = protos.TelemetryBatch(tenant=tenant, device_id=device, seq=seq, sent_at_ns=time.time_ns())
    for sensor, t0, flags in windows:
        add_compact(b, sensor, t0, flags)
    return b


def _req(b: protos.TelemetryBatch) -> protos.IngestRequest:
    return protos.IngestRequest(batch=b)


def _stream(tenant: str, device: str, t0: int, rng: random.Random) -> list[protos.TelemetryBatch]:
    """Batches of anomalous windows of two sensors at random gaps (0..5 windows), kinds mixed."""
    batches = []
    at = {"accel": t0, "ppg": t0}
    for seq in range(1, 13):
        ws = []
        for _ in range(rng.randint(1, 3)):
            sensor = rng.choice(["accel", "ppg"])
            at[sensor] += W_NS * rng.choice([1, 1, 2, 3, 4, 6])
            ws.append((sensor, at[sensor], rng.choice([IMPACT, IMPACT, SPIKE, NOISE])))
        batches.append(_batch(tenant, device, seq, ws))
    return batches


def _reference(batches: list[protos.TelemetryBatch]) -> list[tuple]:
    """The in-process cloud's alerts (Judge + AlertTracker) for batches judged in this order."""
    judge, tracker = Judge(), AlertTracker(record=True, keep=1000)
    for b in batches:
        for w in b.windows:
            key = (b.tenant, b.device_id, w.sensor)
            verdict = judge.judge(window_evidence(key, w, None))
            tracker.observe(key, w.t0_ns, window_ns(w), verdict, 0)
    return sorted(
        (a.device, a.sensor, a.kind, a.start_ns, a.end_ns, a.windows, a.score)
        for a in tracker.alerts
    )


async def _stored(conn: psycopg.AsyncConnection, tenant: str) -> list[tuple]:
    cur = await conn.execute(
        "SELECT device_id, sensor, kind, start_ns, end_ns, windows, score FROM alerts"
        " WHERE tenant = %s ORDER BY 1, 2, 4",
        (tenant,),
    )
    return sorted(tuple(r) for r in await cur.fetchall())


def test_alerts_match_the_in_process_tracker_exactly_once(migrated_dsn, unique_tenant, run):
    rng = random.Random(7)
    t0 = time.time_ns() - 3600 * S
    streams = {d: _stream(unique_tenant, d, t0, rng) for d in ("d1", "d2", "d3")}
    want = _reference([b for bs in streams.values() for b in bs])
    # flushes of a few batches each, every device in seq order; every third batch redelivered
    # with the next flush, and one flush delivered twice in full
    flat = [b for i in range(12) for d in ("d1", "d2", "d3") for b in streams[d][i : i + 1]]
    flushes = [flat[i : i + 4] for i in range(0, len(flat), 4)]
    flushes = [f + ([flushes[k - 1][0]] if k else []) for k, f in enumerate(flushes)]
    flushes.insert(3, flushes[2])

    async def go():
        store = Store(migrated_dsn)
        await store.open()
        try:
            for f in flushes:
                out = await store.write([_req(b) for b in f])
                assert all(o.stored for o in out)
            async with store.pool.connection() as conn:
                return await _stored(conn, unique_tenant), store
        finally:
            await store.close()

    got, store = run(go())
    assert got == want
    assert len(got) >= 6  # the streams do make several episodes per device
    assert store.windows_anomalous == sum(len(b.windows) for bs in streams.values() for b in bs)
    assert sum(store.alerts_opened.values()) == len(want)
    assert set(store.alerts_opened) <= {"fall", "spike", "noise_burst"}


def test_late_batches_join_and_bridge_episodes(migrated_dsn, unique_tenant, run):
    """A late window extends the stored episode it falls near; kind is the most frequent."""
    t0 = time.time_ns() - 3600 * S
    first = _batch(unique_tenant, "d1", 1, [("accel", t0, SPIKE), ("accel", t0 + W_NS, SPIKE)])
    far = _batch(unique_tenant, "d1", 2, [("accel", t0 + 20 * W_NS, NOISE)])
    # late: within two window lengths after the first episode, of another kind, twice
    late = _batch(
        unique_tenant,
        "d1",
        3,
        [("accel", t0 + 4 * W_NS, IMPACT), ("accel", t0 + 5 * W_NS, IMPACT)],
    )
    late2 = _batch(unique_tenant, "d1", 4, [("accel", t0 + 6 * W_NS, IMPACT)])

    async def go():
        store = Store(migrated_dsn)
        await store.open()
        try:
            for f in ([first, far], [late], [late2, late]):
                await store.write([_req(b) for b in f])
            async with store.pool.connection() as conn:
                return await _stored(conn, unique_tenant)
        finally:
            await store.close()

    got = run(go())
    assert [(g[2], g[3], g[4], g[5]) for g in got] == [
        ("fall", t0, t0 + 7 * W_NS, 5),
        ("noise_burst", t0 + 20 * W_NS, t0 + 21 * W_NS, 1),
    ]


def test_two_cores_never_split_an_episode(migrated_dsn, unique_tenant, run):
    """Adjacent windows of one device through two stores at once: one episode per round."""
    t0 = time.time_ns() - 3600 * S
    rounds = 12

    async def go():
        a, b = Store(migrated_dsn), Store(migrated_dsn)
        await a.open()
        await b.open()
        try:
            for r in range(rounds):
                at = t0 + r * 100 * W_NS  # far apart: one episode per round
                one = _batch(unique_tenant, "d1", 2 * r + 1, [("accel", at, IMPACT)])
                two = _batch(unique_tenant, "d1", 2 * r + 2, [("accel", at + W_NS, IMPACT)])
                await asyncio.gather(a.write([_req(one)]), b.write([_req(two)]))
            async with a.pool.connection() as conn:
                return await _stored(conn, unique_tenant)
        finally:
            await a.close()
            await b.close()

    got = run(go())
    assert len(got) == rounds
    assert all(g[5] == 2 and g[4] - g[3] == 2 * W_NS for g in got)


def test_alerts_query_cli_and_metrics(migrated_dsn, unique_tenant, run):
    now = time.time_ns()
    other = unique_tenant[:-1] + ("x" if unique_tenant[-1] != "x" else "y")
    batches = [
        _batch(unique_tenant, "d1", 1, [("accel", now - 7200 * S, IMPACT)]),
        _batch(unique_tenant, "d1", 2, [("accel", now - 600 * S, SPIKE)]),
        _batch(unique_tenant, "d2", 1, [("ppg", now - 300 * S, NOISE)]),
        _batch(other, "d1", 1, [("accel", now - 60 * S, IMPACT)]),
    ]
    runner = CliRunner()

    async def go():
        core = await start_core(
            CoreConfig(dsn=migrated_dsn, listen="127.0.0.1:0", maintenance=None)
        )
        addr = f"127.0.0.1:{core.port}"
        try:
            futs = [await core.writer.submit(_req(b)) for b in batches]
            assert all(o.stored for o in await asyncio.gather(*futs))
            async with grpc.aio.insecure_channel(addr) as ch:
                stub = protos.query_pb2_grpc.QueryStub(ch)
                every = await stub.Alerts(q.AlertsRequest(tenant=unique_tenant))
                d1 = await stub.Alerts(q.AlertsRequest(tenant=unique_tenant, device_id="d1"))
                recent = await stub.Alerts(
                    q.AlertsRequest(tenant=unique_tenant, start_ns=now - 3600 * S, limit=1)
                )
                everyone = await stub.Alerts(q.AlertsRequest())
            res = await asyncio.to_thread(
                lambda: [
                    runner.invoke(cli, ["query", "alerts", "--core-addr", addr, *args])
                    for args in (
                        ["--tenant", unique_tenant, "--since", "1h", "--json"],
                        ["--tenant", unique_tenant, "--device", "d2"],
                        ["--tenant", unique_tenant, "--since", "soon"],
                    )
                ]
            )
            return every, d1, recent, everyone, res, core.metrics.render()
        finally:
            await core.stop(5)

    every, d1, recent, everyone, res, metrics = run(go())
    assert [(a.device_id, a.kind) for a in every.alerts] == [
        ("d2", "noise_burst"),
        ("d1", "spike"),
        ("d1", "fall"),
    ]
    a = every.alerts[0]
    assert (a.tenant, a.sensor, a.windows, a.raw_windows) == (unique_tenant, "ppg", 1, 0)
    assert a.end_ns - a.start_ns == W_NS and a.raised_ns > 0 and a.score == pytest.approx(5.0)
    assert [x.kind for x in d1.alerts] == ["spike", "fall"]
    assert [x.kind for x in recent.alerts] == ["noise_burst"]
    assert {x.tenant for x in everyone.alerts} >= {unique_tenant, other}
    assert res[0].exit_code == 0, res[0].output
    data = json.loads(res[0].output.strip().splitlines()[-1])
    assert [x["kind"] for x in data["alerts"]] == ["noise_burst", "spike"]
    assert res[1].exit_code == 0 and "ppg" in res[1].output and "accel" not in res[1].output
    assert res[2].exit_code != 0 and "--since" in res[2].output
    assert 'binhai_core_alerts_opened_total{kind="fall"} 2' in metrics
    assert "binhai_core_windows_anomalous_total 4" in metrics


def test_raw_windows_are_judged_on_the_clouds_features(migrated_dsn, unique_tenant, run):
    """RAW windows: the Judge sees the decoded samples; an all-NaN window is a dropout."""
    t0 = time.time_ns() - 600 * S
    b = protos.TelemetryBatch(tenant=unique_tenant, device_id="d1", seq=1, sent_at_ns=t0)
    x = np.full((3, N), np.nan, dtype=np.float32)
    w = b.windows.add(sensor="accel", t0_ns=t0, rate_hz=RATE, channels=3, n_samples=N)
    w.offload = protos.Offload.OFFLOAD_RAW
    w.raw.codec = protos.Codec.CODEC_F32LE
    w.raw.data = x.astype("<f4").tobytes()

    async def go():
        store = Store(migrated_dsn)
        await store.open()
        try:
            await store.write([_req(b)])
            async with store.pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT kind, raw_windows FROM alerts WHERE tenant = %s", (unique_tenant,)
                )
                return await cur.fetchall()
        finally:
            await store.close()

    want = Judge().judge(window_evidence((unique_tenant, "d1", "accel"), w, x))
    assert want.anomalous and want.raw and kernels.FEATURE_NAMES
    assert run(go()) == [(want.kind, 1)]
