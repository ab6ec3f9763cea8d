"""Rollups (1 min, 1 h) against a NumPy computation from the stored per-window values,
including a batch that arrives hours late; the same bucketed answer from rollups and windows."""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np
import psycopg
import pytest

import kernels
import protos
from cloud_core import Maintenance, Series, Store, feature_series
from tests.fix_stack import build_batch
from tests.test_storage import raw_batch

pytestmark = pytest.mark.db

S = 10**9


def _expected(t_ns: list[int], values: list[float], bucket_s: int) -> dict[int, tuple]:
    groups: dict[int, list[float]] = defaultdict(list)
    for t, v in zip(t_ns, values, strict=True):
        groups[t // (bucket_s * S) * bucket_s * S].append(v)
    return {
        b: (float(np.mean(np.asarray(v, dtype=np.float64))), min(v), max(v), len(v))
        for b, v in sorted(groups.items())
    }


def _as_map(s: Series) -> dict[int, tuple]:
    return {
        t: (v, lo, hi, n)
        for t, v, lo, hi, n in zip(s.t_ns, s.values, s.mins, s.maxs, s.counts, strict=True)
    }


def _check(got: dict[int, tuple], want: dict[int, tuple]) -> None:
    assert list(got) == list(want)
    for b in want:
        assert got[b][0] == pytest.approx(want[b][0], rel=1e-12, abs=1e-12)
        assert got[b][1:] == pytest.approx(want[b][1:], rel=1e-7)


def test_rollups_match_numpy_including_late_data(migrated_dsn, unique_tenant, run):
    now = time.time_ns()
    start = now - 6 * 3600 * S
    # ~3 minutes of FEATURES windows, plus RAW windows (cloud features) in the same minutes
    batches = [
        build_batch(unique_tenant, "d1", s, t0_ns=now - 200 * S + s * 7 * S) for s in range(1, 25)
    ]
    batches += [
        raw_batch(unique_tenant, "d1", 100 + i, t0_ns=now - 190 * S + i * 20 * S, channels=1)[0]
        for i in range(5)
    ]
    for b in batches[-5:]:
        for w in b.windows:
            w.sensor = "accel"
    late = [
        build_batch(unique_tenant, "d1", 500 + i, t0_ns=now - 3 * 3600 * S + i * 13 * S)
        for i in range(6)
    ]

    async def series(
        conn: psycopg.AsyncConnection, bucket_s: int, feature: str = "std", source: int = 0
    ) -> Series:
        return await feature_series(
            conn,
            tenant=unique_tenant,
            device_id="d1",
            sensor="accel",
            feature=feature,
            start_ns=start,
            end_ns=now + 60 * S,
            bucket_s=bucket_s,
            source=source,
        )

    async def go():
        store = Store(migrated_dsn)
        await store.open()
        maint = Maintenance(migrated_dsn)
        try:
            await store.write([protos.IngestRequest(batch=b) for b in batches])
            first = await maint.run_once()
            await store.write([protos.IngestRequest(batch=b) for b in late])  # hours late
            second = await maint.run_once()
            async with store.pool.connection() as conn:
                raw = await series(conn, 0)
                out = {b: await series(conn, b) for b in (30, 60, 120, 3600)}
                cloud_raw = await series(conn, 0, source=2)
                cloud_1m = await series(conn, 60, source=2)
                beyond = await series(conn, 60, feature="autocorr_lag8")
                beyond_raw = await series(conn, 0, feature="autocorr_lag8")
            return first, second, raw, out, cloud_raw, cloud_1m, beyond, beyond_raw
        finally:
            await maint.close()
            await store.close()

    first, second, raw, out, cloud_raw, cloud_1m, beyond, beyond_raw = run(go())
    assert first.rollups.dirty_buckets >= 3 and second.rollups.dirty_buckets >= 1
    assert len(raw.values) == 24 * 2 + 5 * 2 + 6 * 2
    assert [out[b].resolution for b in (30, 60, 120, 3600)] == [
        "windows",
        "rollup_1m",
        "rollup_1m",
        "rollup_1h",
    ]
    for b, s in out.items():
        _check(_as_map(s), _expected(raw.t_ns, raw.values, b))
    # the late batch sits in its own hour and minutes
    late_hour = (now - 3 * 3600 * S) // (3600 * S) * 3600 * S
    assert _as_map(out[3600])[late_hour][3] >= 1
    # cloud-computed features alone, and a feature the rollups do not carry (windows path)
    assert len(cloud_raw.values) == 10
    _check(_as_map(cloud_1m), _expected(cloud_raw.t_ns, cloud_raw.values, 60))
    assert beyond.resolution == "windows"
    _check(_as_map(beyond), _expected(beyond_raw.t_ns, beyond_raw.values, 60))


def test_rollups_skip_non_finite_windows(migrated_dsn, unique_tenant, run):
    t0 = (time.time_ns() // (60 * S) - 30) * 60 * S  # a whole minute, 30 minutes ago
    good = build_batch(unique_tenant, "d1", 1, t0_ns=t0 + S, windows=1)
    bad = build_batch(unique_tenant, "d1", 2, t0_ns=t0 + 2 * S, windows=1)
    bad.windows[0].features.ClearField("values")
    bad.windows[0].features.values.extend([float("nan")] * len(kernels.FEATURE_NAMES))

    async def go():
        store = Store(migrated_dsn)
        await store.open()
        maint = Maintenance(migrated_dsn)
        try:
            await store.write([protos.IngestRequest(batch=b) for b in (good, bad)])
            await maint.run_once()
            async with store.pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT windows, n_0, n_1, std_0_sum FROM rollup_1m WHERE tenant = %s",
                    (unique_tenant,),
                )
                return await cur.fetchall()
        finally:
            await maint.close()
            await store.close()

    rows = run(go())
    want = float(good.windows[0].features.values[1])
    assert len(rows) == 1
    assert rows[0][:3] == (2, 1, 0) and rows[0][3] == pytest.approx(want)
