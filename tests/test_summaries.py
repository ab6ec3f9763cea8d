"""COMPACT windows and Summaries in storage: validation, the stored layout, and rollups and
queries that count a summary as its windows (a summary of N windows and the N windows sent one
by one give the same figures), on the plain path; migration 3 -> 4."""

from __future__ import annotations

import re
import time

import numpy as np
import psycopg
import pytest

import kernels
import protos
from cloud_core import (
    MIGRATIONS,
    Capabilities,
    Maintenance,
    Store,
    current_version,
    device_detail,
    feature_series,
    fleet_summary,
    migrate,
    stats,
)
from cloud_core._rollups import (
    ROLLUP_CHANNELS,
    ROLLUP_FEATURES,
    SOURCES,
    cagg_queries,
    rollup_columns,
)
from tests.fix_stack import build_batch
from tests.test_alerts import IMPACT, add_compact

pytestmark = pytest.mark.db

S = 10**9
F = len(kernels.FEATURE_NAMES)
RATE, N, C = 50.0, 128, 3
W_NS = round(N * S / RATE)
ALL = tuple(range(F))


def _features(i: int) -> np.ndarray:
    """Window i's features, (C, F): exact in float16, so that a float16 summary of several
    windows holds exactly their mean, min and max."""
    j = np.arange(F, dtype=np.float32)
    return np.stack([(j + c) * 0.5 + i * 0.25 for c in range(C)]).astype(np.float32)


def _single(tenant: str, device: str, seq: int, t0: int, i: int, *, compact: bool = False):
    b = protos.TelemetryBatch(tenant=tenant, device_id=device, seq=seq, sent_at_ns=t0)
    f = _features(i)
    if compact:
        add_compact(
            b, "imu", t0, IMPACT, channels=C, index=ALL, values=f.reshape(-1), novelty=0.5 + i
        )
        return b
    w = b.windows.add(
        sensor="imu", t0_ns=t0, rate_hz=RATE, channels=C, n_samples=N, novelty=0.5 + i
    )
    w.offload = protos.Offload.OFFLOAD_FEATURES
    w.features.algo_version = kernels.ALGO_VERSION
    w.features.values.extend(f.reshape(-1).tolist())
    return b


def add_summary(
    b: protos.TelemetryBatch,
    t0: int,
    feats: list[np.ndarray],
    *,
    index: tuple[int, ...] = ALL,
    sensor: str = "imu",
) -> protos.Summary:
    """A Summary of the windows whose (C, F) features are ``feats``, starting at ``t0``."""
    stack = np.stack(feats)[:, :, list(index)]
    s = b.summaries.add(
        sensor=sensor,
        t0_ns=t0,
        t1_ns=t0 + len(feats) * W_NS,
        windows=len(feats),
        channels=C,
        rate_hz=RATE,
        n_samples=N,
        novelty_max=0.5 + len(feats) - 1,
    )
    s.index.extend(index)
    for name, arr in (("mean", stack.mean(0)), ("min", stack.min(0)), ("max", stack.max(0))):
        setattr(s, name, arr.astype("<f2").tobytes())
    return s


def _req(b: protos.TelemetryBatch) -> protos.IngestRequest:
    return protos.IngestRequest(batch=b)


async def _rollup(conn: psycopg.AsyncConnection, table: str, tenant: str, device: str) -> dict:
    cur = await conn.execute(
        f"SELECT * FROM {table} WHERE tenant = %s AND device_id = %s", (tenant, device)
    )
    rows = await cur.fetchall()
    assert cur.description is not None and len(rows) == 1, rows
    names = [d.name for d in cur.description]
    return {n: v for n, v in zip(names, rows[0], strict=True) if n not in ("device_id",)}


def test_a_summary_counts_as_its_windows(migrated_dsn, unique_tenant, run):
    t0 = (time.time_ns() - 2 * 3600 * S) // (60 * S) * 60 * S + 5 * S  # 5 s into a minute
    k = 6
    singles = [_single(unique_tenant, "one", i + 1, t0 + i * W_NS, i) for i in range(k)]
    compacts = [
        _single(unique_tenant, "compact", i + 1, t0 + i * W_NS, i, compact=True) for i in range(k)
    ]
    summed = protos.TelemetryBatch(tenant=unique_tenant, device_id="sum", seq=1, sent_at_ns=t0)
    add_summary(summed, t0, [_features(i) for i in range(k)])
    # a summary of two features only: the others are unknown for its windows
    part = protos.TelemetryBatch(tenant=unique_tenant, device_id="part", seq=1, sent_at_ns=t0)
    std, rms = kernels.FEATURE_NAMES.index("std"), kernels.FEATURE_NAMES.index("rms")
    add_summary(part, t0, [_features(i) for i in range(k)], index=(rms, std))

    async def series(conn, device: str, feature: str, bucket_s: int):
        s = await feature_series(
            conn,
            tenant=unique_tenant,
            device_id=device,
            sensor="imu",
            feature=feature,
            channel=1,
            start_ns=t0 - 3600 * S,
            end_ns=t0 + 3600 * S,
            bucket_s=bucket_s,
        )
        return s.resolution, list(zip(s.t_ns, s.values, s.mins, s.maxs, s.counts, strict=True))

    async def go():
        store = Store(migrated_dsn)
        await store.open()
        m = Maintenance(migrated_dsn)
        try:
            out = await store.write([_req(b) for b in [*singles, *compacts, summed, part]])
            assert all(o.stored and not o.duplicate for o in out), out
            await m.run_once()
            got: dict = {}
            async with store.pool.connection() as conn:
                for dev in ("one", "compact"):
                    got[dev, "1m"] = await _rollup(conn, "rollup_1m", unique_tenant, dev)
                    got[dev, "1h"] = await _rollup(conn, "rollup_1h", unique_tenant, dev)
                for dev in ("sum", "part"):
                    got[dev, "1m"] = await _rollup(conn, "summary_1m", unique_tenant, dev)
                    got[dev, "1h"] = await _rollup(conn, "summary_1h", unique_tenant, dev)
                for dev in ("one", "compact", "sum", "part"):
                    for feature in ("std", "rms", "mean", "autocorr_lag8"):
                        for bucket in (30, 60, 3600):
                            got[dev, feature, bucket] = await series(conn, dev, feature, bucket)
                    got[dev, "device"] = await device_detail(conn, unique_tenant, dev)
                got["stats"] = await stats(conn, unique_tenant)
                got["fleet"] = await fleet_summary(conn, unique_tenant)
                cur = await conn.execute(
                    "SELECT n_windows, n_samples, n_summarized FROM batches"
                    " WHERE tenant = %s AND device_id = 'sum'",
                    (unique_tenant,),
                )
                got["batch"] = await cur.fetchone()
            return got
        finally:
            await m.close()
            await store.close()

    got = run(go())
    for level in ("1m", "1h"):
        one, compact, summ, part_r = (got[d, level] for d in ("one", "compact", "sum", "part"))
        assert one["windows"] == k and one == compact
        assert one == summ, level
        assert part_r["windows"] == k
        for c in range(ROLLUP_CHANNELS):
            for f in ROLLUP_FEATURES:
                n = part_r[f"{f}_{c}_n"]
                assert n == (k if f in ("std", "rms") else 0), (f, c)
                if n:
                    assert part_r[f"{f}_{c}_sum"] == one[f"{f}_{c}_sum"]
                    assert (part_r[f"{f}_{c}_lo"], part_r[f"{f}_{c}_hi"]) == (
                        one[f"{f}_{c}_lo"],
                        one[f"{f}_{c}_hi"],
                    )
    for feature in ("std", "rms", "mean", "autocorr_lag8"):
        for bucket in (30, 60, 3600):
            res, pts = got["one", feature, bucket]
            assert len(pts) == 1 and pts[0][4] == k, (feature, bucket, pts)
            want_res = "windows" if bucket == 30 or feature == "autocorr_lag8" else res
            assert res == want_res
            assert got["compact", feature, bucket] == (res, pts)
            assert got["sum", feature, bucket] == (res, pts), (feature, bucket)
            part_pts = got["part", feature, bucket][1]
            assert part_pts == (pts if feature in ("std", "rms") else []), (feature, bucket)
    # the mean of the rms of channel 1 over the windows, exactly
    assert got["one", "rms", 60][1][0][1] == pytest.approx(
        float(np.mean([_features(i)[1, rms] for i in range(k)])), abs=0
    )
    st = got["stats"]
    assert st.windows == 4 * k and st.samples == 4 * k * C * N
    assert got["fleet"].windows_last_minute == 4 * k
    assert all(got[d, "device"].windows == k for d in ("one", "compact", "sum", "part"))
    assert tuple(got["batch"]) == (0, k * C * N, k)


def test_compact_windows_are_stored_with_their_subset_and_flags(migrated_dsn, unique_tenant, run):
    t0 = time.time_ns() - 600 * S
    b = protos.TelemetryBatch(tenant=unique_tenant, device_id="d1", seq=1, sent_at_ns=t0)
    add_compact(b, "imu", t0, IMPACT, index=(5, 1), values=np.arange(1, 7) / 4.0)
    plain = build_batch(unique_tenant, "d1", 2, t0_ns=t0 + 10 * S)  # an old device's batch
    plain.windows[0].flags = 1 << 31  # every uint32 flag fits
    healthy = protos.TelemetryBatch(tenant=unique_tenant, device_id="d2", seq=1, sent_at_ns=t0)
    healthy.health.algo_version = 7
    add_compact(healthy, "imu", t0, IMPACT)

    async def go():
        store = Store(migrated_dsn)
        await store.open()
        try:
            out = await store.write([_req(x) for x in (b, plain, healthy)])
            async with store.pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT device_id, seq, offload, flags, algo_version, source, features"
                    " FROM windows WHERE tenant = %s ORDER BY device_id, seq, idx",
                    (unique_tenant,),
                )
                rows = await cur.fetchall()
                per_window = await feature_series(
                    conn,
                    tenant=unique_tenant,
                    device_id="d1",
                    sensor="imu",
                    feature="ptp",
                    start_ns=t0 - S,
                    end_ns=t0 + S,
                )
            return out, rows, per_window
        finally:
            await store.close()

    out, rows, per_window = run(go())
    assert all(o.stored for o in out)
    compact = rows[0]
    assert compact[:6] == ("d1", 1, protos.Offload.OFFLOAD_COMPACT, IMPACT, 1, 1)
    f = np.asarray(compact[6], dtype=np.float32).reshape(3, F)
    assert np.array_equal(f[:, [5, 1]], (np.arange(1, 7) / 4.0).reshape(3, 2))
    assert np.isnan(np.delete(f, [5, 1], axis=1)).all()
    assert [r[3] for r in rows[1:3]] == [1 << 31, 0]  # the old device's flags
    assert rows[3][4] == 7  # the batch's health says which algo_version
    assert per_window.values == [0.25]  # ptp (position 5) of channel 0 is known


def _bad(tenant: str, seq: int, what: str) -> protos.TelemetryBatch:
    t0 = time.time_ns() - 60 * S
    b = protos.TelemetryBatch(tenant=tenant, device_id="d1", seq=seq, sent_at_ns=t0)
    if what.startswith("compact"):
        w = add_compact(b, "imu", t0, IMPACT)
        if what == "compact-noflags":
            w.flags = 0
        elif what == "compact-missing":
            w.ClearField("compact")
        elif what == "compact-index":
            w.compact.index[0] = F
        elif what == "compact-repeat":
            w.compact.index[1] = w.compact.index[0]
        elif what == "compact-length":
            w.compact.half = w.compact.half[:-2]
        elif what == "compact-raw":
            w.raw.codec = protos.Codec.CODEC_F32LE
            w.raw.data = b"\0" * (4 * 3 * N)
        return b
    s = add_summary(b, t0, [_features(0), _features(1)])
    if what == "summary-zero":
        s.windows = 0
    elif what == "summary-backwards":
        s.t1_ns = s.t0_ns - 1
    elif what == "summary-crowded":
        s.windows = 10**6  # a million windows in 5 s of 50 Hz samples
    elif what == "summary-future":
        s.t1_ns = time.time_ns() + 10 * 86_400 * S
    elif what == "summary-length":
        s.max = s.max[:4]
    elif what == "summary-channels":
        s.channels = 0
    elif what == "summary-sensor":
        s.sensor = ""
    elif what == "summary-rate":
        s.rate_hz = float("nan")
    return b


BAD = {
    "compact-noflags": "COMPACT without flags",
    "compact-missing": "COMPACT without flags or compact features",
    "compact-index": "out of range",
    "compact-repeat": "repeated feature positions",
    "compact-length": "bytes of float16",
    "compact-raw": "COMPACT window with raw samples",
    "summary-zero": "0 windows",
    "summary-backwards": "t0..t1",
    "summary-crowded": "1000000 windows",
    "summary-future": "t0..t1",
    "summary-length": "summary 0 mean/min/max",
    "summary-channels": "bad shape",
    "summary-sensor": "bad sensor name in summary 0",
    "summary-rate": "summary 0: bad rate_hz",
}


def test_bad_compact_windows_and_summaries_dead_letter_only_their_batch(
    migrated_dsn, unique_tenant, run
):
    bad = [_bad(unique_tenant, i + 1, what) for i, what in enumerate(BAD)]
    good = build_batch(unique_tenant, "d1", 100)
    good_summary = protos.TelemetryBatch(tenant=unique_tenant, device_id="d1", seq=101)
    add_summary(good_summary, time.time_ns() - 60 * S, [_features(0), _features(1)])

    async def go():
        store = Store(migrated_dsn)
        await store.open()
        try:
            out = await store.write([_req(b) for b in [*bad, good, good_summary]])
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
    assert [o.stored for o in out] == [False] * len(BAD) + [True, True]
    for (what, want), o, reason in zip(BAD.items(), out[: len(BAD)], reasons, strict=True):
        assert want in o.reason and o.reason == reason, (what, o.reason)
    assert st.batches == 2 and st.windows == len(good.windows) + 2


def test_upgrade_from_v3_counts_every_rolled_up_window(private_dsn, run):
    """v4 adds the per-feature counts to the existing rollups (from n_c: before v4 a window had
    all its features or none), flags, summaries and alerts; old rows keep answering."""
    bucket = (time.time_ns() - 3600 * S) // (60 * S) * 60 * S
    legacy = [n for n, _ in rollup_columns(counts=False)]

    async def go():
        await migrate(private_dsn, target=3)
        async with await psycopg.AsyncConnection.connect(private_dsn, autocommit=True) as conn:
            values = {n: (4 if n.startswith("n_") or n == "windows" else 2.0) for n in legacy}
            values.update({n: 8.0 for n in legacy if n.endswith("_sum")})
            await conn.execute(
                f"INSERT INTO rollup_1m (tenant, device_id, sensor, source, algo_version, bucket,"
                f" {', '.join(legacy)}) VALUES ('t', 'd', 'imu', 1, %s,"
                f" timestamptz 'epoch' + %s * interval '1 microsecond',"
                f" {', '.join(['%s'] * len(legacy))})",
                [kernels.ALGO_VERSION, bucket // 1000, *values.values()],
            )
            await conn.execute(
                "INSERT INTO windows (tenant, device_id, seq, idx, sensor, t0, rate_hz,"
                " channels, n_samples, offload, novelty) VALUES ('t', 'd', 1, 0, 'imu', now(),"
                " 50, 1, 64, 1, 0)"
            )
        applied = await migrate(private_dsn)
        async with await psycopg.AsyncConnection.connect(private_dsn) as conn:
            cur = await conn.execute("SELECT std_2_n, mean_0_n, windows FROM rollup_1m")
            counts = await cur.fetchone()
            cur = await conn.execute("SELECT flags FROM windows")
            flags = await cur.fetchone()
            cur = await conn.execute(
                "SELECT count(*) FROM pg_class WHERE relname IN"
                " ('alerts', 'summaries', 'summary_1m', 'summary_1h')"
            )
            tables = await cur.fetchone()
            s = await feature_series(
                conn,
                tenant="t",
                device_id="d",
                sensor="imu",
                feature="std",
                channel=2,
                start_ns=bucket,
                end_ns=bucket + 60 * S,
                bucket_s=60,
            )
            version = await current_version(conn)
        return applied, counts, flags, tables, s, version

    applied, counts, flags, tables, s, version = run(go())
    assert [m.version for m in applied] == [4, 5] and version == MIGRATIONS[-1].version
    assert tuple(counts) == (4, 4, 4) and flags == (None,) and tables == (4,)
    assert (s.resolution, s.values, s.counts) == ("rollup_1m", [2.0], [4])


def _time_bucket_as_date_bin(sql: str) -> str:
    """TimescaleDB's ``time_bucket(width, t)`` as plain PostgreSQL (same epoch-aligned buckets)."""
    return re.sub(
        r"time_bucket\((interval '[^']+'), (\w+)\)", r"date_bin(\1, \2, timestamptz 'epoch')", sql
    )


@pytest.mark.parametrize("version", ["2.28.0", "2.8.0"], ids=["hierarchical", "flat"])
def test_continuous_aggregate_queries_compute_what_the_refresh_does(
    migrated_dsn, unique_tenant, run, version
):
    """Both families' aggregate queries (run here with time_bucket as date_bin) give the rows the
    plain path's refresh wrote: one definition of the rollups for both paths."""
    # spans two minutes, in the middle of an hour (two hours ago at 19:59 would span two hours)
    t0 = (time.time_ns() - 2 * 3600 * S) // (3600 * S) * 3600 * S + (30 * 60 + 50) * S
    batches = [
        _single(unique_tenant, "d", i + 1, t0 + i * W_NS, i, compact=i % 2 == 1) for i in range(6)
    ]
    summed = protos.TelemetryBatch(tenant=unique_tenant, device_id="d", seq=10, sent_at_ns=t0)
    add_summary(summed, t0 + 70 * S, [_features(i) for i in range(3)], index=(0, 1, 3))
    caps = Capabilities(150000, version, "timescale", True, True)

    async def go():
        store = Store(migrated_dsn)
        await store.open()
        m = Maintenance(migrated_dsn)
        try:
            await store.write([_req(b) for b in [*batches, summed]])
            await m.run_once()
            out = []
            async with store.pool.connection() as conn:
                for src in SOURCES:
                    for table, query in zip(
                        (src.minute, src.hour), cagg_queries(src, caps), strict=True
                    ):
                        order = "ORDER BY device_id, sensor, bucket, source, algo_version"
                        cur = await conn.execute(
                            f"SELECT * FROM ({_time_bucket_as_date_bin(query)}) AS q"
                            f" WHERE tenant = %s {order}",
                            (unique_tenant,),
                        )
                        got = await cur.fetchall()
                        cur = await conn.execute(
                            f"SELECT * FROM {table} WHERE tenant = %s {order}", (unique_tenant,)
                        )
                        out.append((table, got, await cur.fetchall()))
            return out
        finally:
            await m.close()
            await store.close()

    for table, got, want in run(go()):
        assert len(want) == (2 if table.endswith("_1m") and table.startswith("rollup") else 1)
        assert [r[:6] for r in got] == [r[:6] for r in want], table
        for g, w in zip(got, want, strict=True):
            nan = float("nan")
            g_, w_ = ([nan if v is None else v for v in r[6:]] for r in (g, w))
            assert g_ == pytest.approx(w_, rel=1e-12, nan_ok=True), table
