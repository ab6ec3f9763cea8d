"""Storage against the real PostgreSQL: migrations v1 -> latest, day partitions, retention,
cloud-side features and conformance, device health and command acks."""

from __future__ import annotations

import secrets
import time
from datetime import datetime, timedelta, timezone

import numpy as np
import psycopg
import pytest

import kernels
import protos
from cloud_core import (
    MIGRATIONS,
    Maintenance,
    Store,
    apply_retention,
    current_version,
    detect,
    migrate,
    parse_age,
    raw_window,
)
from tests.fix_stack import build_batch

pytestmark = pytest.mark.db

DAY_NS = 86_400 * 10**9


def raw_batch(
    tenant: str,
    device: str,
    seq: int,
    *,
    t0_ns: int,
    offload: int = protos.Offload.OFFLOAD_RAW,
    channels: int = 3,
    n: int = 128,
    windows: int = 2,
    lie: bool = False,
) -> tuple[protos.TelemetryBatch, list[np.ndarray]]:
    """A batch of RAW (or BOTH) windows of ``channels`` x ``n`` samples; returns the samples."""
    rng = np.random.default_rng(seq)
    b = protos.TelemetryBatch(tenant=tenant, device_id=device, seq=seq, sent_at_ns=t0_ns)
    xs = []
    for i in range(windows):
        x = (rng.normal(size=(channels, n)) * (i + 1)).astype(np.float32)
        xs.append(x)
        w = b.windows.add(
            sensor="imu", t0_ns=t0_ns + i * 10**9, rate_hz=100.0, channels=channels, n_samples=n
        )
        w.offload = offload
        w.raw.codec = protos.Codec.CODEC_BINHAI
        w.raw.data = kernels.encode_samples(x.reshape(-1))
        if offload == protos.Offload.OFFLOAD_BOTH:
            f = np.concatenate([kernels.window_features(c, 100.0) for c in x])
            if lie:
                f[1] *= 1.5  # a device that reports the wrong std
            w.features.algo_version = kernels.ALGO_VERSION
            w.features.values.extend(f.tolist())
    return b, xs


def _req(b: protos.TelemetryBatch) -> protos.IngestRequest:
    return protos.IngestRequest(batch=b)


async def _with_store(dsn: str, batches: list[protos.TelemetryBatch]) -> Store:
    store = Store(dsn)
    await store.open()
    out = await store.write([_req(b) for b in batches])
    assert all(o.stored for o in out), out
    return store


def test_upgrade_from_v1_keeps_data_and_partitions_windows(private_dsn, run):
    now_ns = time.time_ns()
    t_old = now_ns - 3 * DAY_NS

    async def go():
        assert [m.version for m in await migrate(private_dsn, target=1)] == [1]
        async with await psycopg.AsyncConnection.connect(private_dsn, autocommit=True) as conn:
            # v1 rows written the way the v1 core wrote them
            await conn.execute(
                "INSERT INTO batches (tenant, device_id, seq, sent_at, n_windows, n_samples,"
                " payload_bytes) VALUES ('t', 'd', 1, now(), 2, 128, 100)"
            )
            for i, t in enumerate((t_old, now_ns)):
                await conn.execute(
                    "INSERT INTO windows (tenant, device_id, seq, idx, sensor, t0, rate_hz,"
                    " channels, n_samples, offload, novelty, algo_version, features)"
                    " VALUES ('t', 'd', 1, %s, 'accel',"
                    " timestamptz 'epoch' + %s * interval '1 microsecond', 50, 1, 64, 1, 0,"
                    " %s, %s)",
                    (i, t // 1000, kernels.ALGO_VERSION, [float(i)] * len(kernels.FEATURE_NAMES)),
                )
            assert await current_version(conn) == 1
        applied = await migrate(private_dsn)
        async with await psycopg.AsyncConnection.connect(private_dsn) as conn:
            version = await current_version(conn)
            cur = await conn.execute(
                "SELECT tableoid::regclass::text, idx, source FROM windows ORDER BY idx"
            )
            rows = await cur.fetchall()
            cur = await conn.execute(
                "SELECT relkind FROM pg_class WHERE relname IN ('windows', 'windows_v1')"
            )
            kinds = [r[0] for r in await cur.fetchall()]
            caps = await detect(conn)
        return applied, version, rows, kinds, caps

    applied, version, rows, kinds, caps = run(go())
    assert [m.version for m in applied] == [m.version for m in MIGRATIONS[1:]]
    assert version == MIGRATIONS[-1].version
    assert [(r[1], r[2]) for r in rows] == [(0, 1), (1, 1)]
    if not caps.hypertables:
        day = datetime.fromtimestamp(t_old / 1e9, timezone.utc)
        assert rows[0][0] == f"windows_p{day:%Y%m%d}"
        assert kinds == ["p"]  # partitioned; the v1 table is gone


def test_default_partition_takes_far_data_and_new_partitions_adopt_it(private_dsn, run):
    async def go():
        await migrate(private_dsn)
        far = datetime(2001, 2, 3, 12, tzinfo=timezone.utc)
        far_ns = int(far.timestamp()) * 10**9
        store = await _with_store(private_dsn, [build_batch("t", "d", 1, t0_ns=far_ns)])
        try:
            async with store.pool.connection() as conn:
                caps = await detect(conn)
                if caps.hypertables:
                    pytest.skip("hypertables create chunks on demand")
                cur = await conn.execute("SELECT DISTINCT tableoid::regclass::text FROM windows")
                before = [r[0] for r in await cur.fetchall()]
                from cloud_core._partitions import ensure_days

                async with conn.transaction():
                    created = await ensure_days(conn, "windows", [far.date()])
                cur = await conn.execute("SELECT DISTINCT tableoid::regclass::text FROM windows")
                after = [r[0] for r in await cur.fetchall()]
            m = Maintenance(private_dsn)
            report = await m.run_once()
            await m.close()
            return before, created, after, report
        finally:
            await store.close()

    before, created, after, report = run(go())
    assert before == ["windows_default"]
    assert created == ["windows_p20010203"] and after == created
    assert report.partitions_created == []  # the migration already made today + 7 days


def test_retention_drops_only_old_partitions(private_dsn, run):
    now = datetime.now(timezone.utc)
    now_ns = time.time_ns()

    async def go():
        await migrate(private_dsn)
        async with await psycopg.AsyncConnection.connect(private_dsn, autocommit=True) as conn:
            caps = await detect(conn)
            if not caps.hypertables:
                from cloud_core._partitions import ensure_days

                days = [(now - timedelta(days=d)).date() for d in (40, 35, 2)]
                await ensure_days(conn, "windows", days)
        ages = (40, 35, 2, 0)
        store = await _with_store(
            private_dsn,
            [
                build_batch("t", "d", i + 1, t0_ns=now_ns - a * DAY_NS, windows=1)
                for i, a in enumerate(ages)
            ]
            + [
                build_batch(
                    "t", "d", 9, t0_ns=int(datetime(1999, 1, 1).timestamp() * 1e9), windows=1
                )
            ],
        )
        await store.close()
        async with await psycopg.AsyncConnection.connect(private_dsn, autocommit=True) as conn:
            dry = await apply_retention(conn, caps, older_than=parse_age("30d"), dry_run=True)
            cur = await conn.execute("SELECT count(*) FROM windows")
            n_dry = (await cur.fetchone())[0]
            res = await apply_retention(conn, caps, older_than=parse_age("30d"))
            cur = await conn.execute("SELECT seq FROM windows ORDER BY seq")
            left = [r[0] for r in await cur.fetchall()]
            cur = await conn.execute("SELECT count(*) FROM batches")
            batches = (await cur.fetchone())[0]
        return caps, dry, n_dry, res, left, batches

    caps, dry, n_dry, res, left, batches = run(go())
    assert n_dry == 5  # a dry run removes nothing
    assert left == [3, 4]  # 2 days old and today survive; 35, 40 days and 1999 are gone
    assert batches == 5  # the dedup ledger is kept
    if not caps.hypertables:
        old = {f"windows_p{(now - timedelta(days=d)).date():%Y%m%d}" for d in (40, 35)}
        assert old <= set(res.dropped) and set(dry.dropped) == set(res.dropped)
        assert not any(
            p.endswith(f"{(now - timedelta(days=2)).date():%Y%m%d}") for p in res.dropped
        )
        assert res.rows_deleted["windows_default"] == 1


def test_parse_age():
    assert parse_age("30d") == timedelta(days=30)
    assert parse_age("12h") == timedelta(hours=12)
    with pytest.raises(ValueError):
        parse_age("30 years")


def test_cloud_features_equal_device_kernels_on_decoded_raw(migrated_dsn, unique_tenant, run):
    t0 = time.time_ns() - 600 * 10**9
    b1, xs1 = raw_batch(unique_tenant, "d1", 1, t0_ns=t0)
    b2, xs2 = raw_batch(unique_tenant, "d1", 2, t0_ns=t0 + 10 * 10**9, channels=1, n=256)

    async def go():
        store = await _with_store(migrated_dsn, [b1, b2])
        try:
            async with store.pool.connection() as conn:
                return [
                    await raw_window(conn, unique_tenant, "d1", seq, idx)
                    for seq in (1, 2)
                    for idx in (0, 1)
                ]
        finally:
            await store.close()

    got = run(go())
    for w, x in zip(got, xs1 + xs2, strict=True):
        assert w is not None and w.source == 2 and w.algo_version == kernels.ALGO_VERSION
        assert np.array_equal(np.asarray(w.samples, np.float32), x.reshape(-1))
        want = np.concatenate([kernels.window_features(c, 100.0) for c in x])
        np.testing.assert_array_equal(np.asarray(w.features, np.float32), want)
        # stored as the codec's bytes, decoded on demand
        assert w.stored_bytes == len(kernels.encode_samples(x.reshape(-1)))


def test_conformance_counts_a_lying_device(migrated_dsn, unique_tenant, run):
    t0 = time.time_ns() - 600 * 10**9
    honest, _ = raw_batch(unique_tenant, "good", 1, t0_ns=t0, offload=protos.Offload.OFFLOAD_BOTH)
    liar, _ = raw_batch(
        unique_tenant, "bad", 1, t0_ns=t0, offload=protos.Offload.OFFLOAD_BOTH, lie=True
    )
    liar2, _ = raw_batch(
        unique_tenant, "bad", 2, t0_ns=t0 + 5 * 10**9, offload=protos.Offload.OFFLOAD_BOTH
    )
    liar2.windows[0].features.algo_version = kernels.ALGO_VERSION + 1  # cannot be compared

    async def go():
        store = await _with_store(migrated_dsn, [honest, liar, liar2])
        try:
            await store.write([_req(liar)])  # a redelivery is not counted twice
            async with store.pool.connection() as conn:
                from cloud_core import conformance

                rows = await conformance(conn, unique_tenant)
            return rows, (store.conformance_checked, store.conformance_mismatches)
        finally:
            await store.close()

    got, counters = run(go())
    assert counters == (5, 2)  # for metrics; the redelivery is not counted
    rows = {(r["device_id"], r["algo_version"]): r for r in got}
    v = kernels.ALGO_VERSION
    assert rows[("good", v)]["checked"] == 2 and rows[("good", v)]["mismatches"] == 0
    bad = rows[("bad", v)]
    assert (bad["checked"], bad["mismatches"]) == (3, 2)
    assert "std[ch0]" in bad["last_mismatch"] and bad["last_mismatch_ns"] > 0
    assert rows[("bad", v + 1)]["skipped"] == 1


def test_undecodable_raw_is_dead_lettered(migrated_dsn, unique_tenant, run):
    b, _ = raw_batch(unique_tenant, "d1", 1, t0_ns=time.time_ns())
    b.windows[1].raw.data = b.windows[1].raw.data[:-3]
    short, _ = raw_batch(unique_tenant, "d1", 2, t0_ns=time.time_ns())
    short.windows[0].n_samples = 64

    async def go():
        store = Store(migrated_dsn)
        await store.open()
        try:
            return await store.write([_req(b), _req(short)])
        finally:
            await store.close()

    out = run(go())
    assert [o.stored for o in out] == [False, False]
    assert "window 1" in out[0].reason and "claims 384 samples, expected 192" in out[1].reason


def test_health_and_command_acks_are_stored(migrated_dsn, unique_tenant, run):
    cid = f"cmd-{secrets.token_hex(4)}"
    b = build_batch(unique_tenant, "d1", 1)
    b.health.battery = 0.42
    b.health.outbox_depth = 7
    b.health.evicted_batches = 3
    b.health.firmware = "fw-1.2"
    b.health.outbox_bytes = (1 << 64) - 1  # clamped to bigint, not a failed flush
    b.acks.add(id=cid, ok=False, reason="unknown command", device_time_ns=time.time_ns())
    b.acks.add(id="never-sent", ok=True)
    hb = protos.TelemetryBatch(tenant=unique_tenant, device_id="d1", seq=2, sent_at_ns=1)
    hb.health.battery = 0.40
    hb.health.outbox_depth = 1

    async def go():
        async with await psycopg.AsyncConnection.connect(migrated_dsn, autocommit=True) as conn:
            await conn.execute(
                "INSERT INTO commands (id, tenant, device_id, body, kind) VALUES"
                " (%s, %s, 'd1', '\\x00', 'policy')",
                (cid, unique_tenant),
            )
        store = await _with_store(migrated_dsn, [b, hb])
        try:
            await store.write([_req(b)])  # redelivered: nothing changes
            async with store.pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT seq, battery, outbox_depth, evicted_batches, firmware, outbox_bytes"
                    " FROM device_health WHERE tenant = %s ORDER BY seq",
                    (unique_tenant,),
                )
                health = await cur.fetchall()
                cur = await conn.execute(
                    "SELECT command_id, ok, reason FROM command_acks WHERE tenant = %s"
                    " ORDER BY command_id",
                    (unique_tenant,),
                )
                acks = await cur.fetchall()
                cur = await conn.execute(
                    "SELECT acked_at IS NOT NULL, ok, reason FROM commands WHERE id = %s", (cid,)
                )
                cmd = await cur.fetchone()
            return health, acks, cmd
        finally:
            await store.close()

    health, acks, cmd = run(go())
    assert [(h[0], h[2], h[3], h[4]) for h in health] == [(1, 7, 3, "fw-1.2"), (2, 1, 0, "")]
    assert health[0][1] == pytest.approx(0.42) and health[0][5] == (1 << 63) - 1
    assert acks == [(cid, False, "unknown command"), ("never-sent", True, "")]
    assert cmd == (True, False, "unknown command")
