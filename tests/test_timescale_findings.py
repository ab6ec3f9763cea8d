"""The storage findings from a real TimescaleDB (2.28), each tested where it can run here.

TimescaleDB is not packaged on the test machines, so the continuous-aggregate path is run
against plain PostgreSQL with stand-ins for the three TimescaleDB procedures it calls, each
enforcing TimescaleDB's documented rule (``refresh_continuous_aggregate`` refuses a window that
covers no whole bucket; the policy functions refuse a window under two buckets). The plain path
runs for real. Every test runs in the session's time zone; the suite is run with
``PGTZ=Asia/Kolkata`` (a +05:30 zone, where ``date_trunc('hour', ..)`` cuts hours at :30 UTC)
as well as with UTC.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

import protos
from cloud_core import Capabilities, Maintenance, Store, apply_retention, detect, migrate
from cloud_core._retention import safe_lookback
from cloud_core._rollups import (
    CAGGS,
    REFRESH_LOOKBACK,
    _refresh_caggs,
    cagg_windows,
    rollup_aggregates,
    rollup_columns,
    set_cagg_policies,
)
from tests.fix_stack import build_batch

pytestmark = pytest.mark.db

S = 10**9
UTC = timezone.utc

# Stand-ins for TimescaleDB's procedures, in a schema of their own put first on search_path.
_FAKE_TIMESCALE = """
CREATE SCHEMA tsfake;
CREATE TABLE tsfake.calls (what text, view text, a text, b text);
CREATE FUNCTION tsfake.width(view regclass) RETURNS interval LANGUAGE sql AS
    $$ SELECT CASE view::text WHEN 'rollup_1m' THEN interval '1 minute'
                              ELSE interval '1 hour' END $$;
-- Only buckets wholly inside [start, end) are refreshed (time_bucket's buckets: UTC, epoch
-- aligned); a window holding none is an error.
CREATE PROCEDURE tsfake.refresh_continuous_aggregate(
    view regclass, window_start timestamptz, window_end timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    w interval := tsfake.width(view);
    first_full timestamptz := date_bin(w, window_start, timestamptz 'epoch');
BEGIN
    IF first_full < window_start THEN first_full := first_full + w; END IF;
    IF first_full + w > window_end THEN
        RAISE EXCEPTION 'refresh window too small' USING ERRCODE = '22023';
    END IF;
    INSERT INTO tsfake.calls VALUES ('refresh', view::text, window_start::text, window_end::text);
END $$;
CREATE FUNCTION tsfake.remove_continuous_aggregate_policy(view regclass, if_exists bool)
RETURNS void LANGUAGE sql AS
    $$ INSERT INTO tsfake.calls VALUES ('remove', view::text, NULL, NULL) $$;
CREATE FUNCTION tsfake.add_continuous_aggregate_policy(
    view regclass, start_offset interval, end_offset interval, schedule_interval interval)
RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    IF end_offset IS NULL OR start_offset - end_offset < 2 * tsfake.width(view) THEN
        RAISE EXCEPTION 'policy refresh window too small' USING ERRCODE = '22023';
    END IF;
    INSERT INTO tsfake.calls VALUES ('add', view::text, start_offset::text, end_offset::text);
    RETURN 1;
END $$;
"""
_CAGG_CAPS = Capabilities(150000, "2.28.0", "timescale", False, True)


def _utc(t: datetime) -> datetime:
    return t.astimezone(UTC)


@pytest.fixture
def tz_db(private_dsn: str, run) -> str:
    """A migrated private database with the TimescaleDB stand-ins installed."""
    run(migrate(private_dsn))
    with psycopg.connect(private_dsn, autocommit=True) as conn:
        conn.execute(_FAKE_TIMESCALE)
    return private_dsn


async def _cagg_conn(dsn: str, tz: str) -> psycopg.AsyncConnection:
    return await psycopg.AsyncConnection.connect(
        dsn, autocommit=True, options=f"-c search_path=tsfake,public -c TimeZone={tz}"
    )


def _calls(dsn: str, what: str = "refresh") -> list[tuple[str, datetime, datetime]]:
    with psycopg.connect(dsn, autocommit=True, options="-c TimeZone=UTC") as conn:
        rows = conn.execute(
            "SELECT view, a::timestamptz, b::timestamptz FROM tsfake.calls WHERE what = %s",
            (what,),
        ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def _dirty(dsn: str, *buckets: datetime) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for b in buckets:
            conn.execute(
                "INSERT INTO rollup_dirty VALUES ('t', 'd', 's', %s)",
                (b.replace(second=0, microsecond=0),),
            )


@pytest.mark.parametrize("tz", ["Asia/Kolkata", "UTC", "America/St_Johns"])
def test_cagg_refresh_windows_are_whole_utc_buckets_in_any_time_zone(tz_db, tz, run):
    now = datetime.now(UTC)
    lo = (now - timedelta(hours=5)).replace(minute=7, second=0, microsecond=0)
    _dirty(tz_db, lo, lo + timedelta(minutes=1), lo + timedelta(hours=2, minutes=3))

    async def go():
        async with await _cagg_conn(tz_db, tz) as conn:
            return await _refresh_caggs(conn, _CAGG_CAPS)

    res = run(go())  # stand-in raises "refresh window too small" on a misaligned window
    calls = _calls(tz_db)
    assert res.dirty_buckets == 3
    assert [c[0] for c in calls] == ["rollup_1m", "rollup_1h"]
    for view, start, end in calls:
        width = dict(CAGGS)[view]
        for t in (start, end):
            assert (t - datetime(1970, 1, 1, tzinfo=UTC)) % width == timedelta(0), (view, t)
    (_, m0, m1), (_, h0, h1) = calls
    assert (m0, m1) == (lo, lo + timedelta(hours=2, minutes=4))
    assert (h0, h1) == (lo.replace(minute=0), lo.replace(minute=0) + timedelta(hours=3))


def test_cagg_refresh_never_moves_the_watermark_into_the_future(tz_db, run):
    now = datetime.now(UTC)
    past = now - timedelta(hours=3)
    future = now + timedelta(hours=6)  # a window within the ingest limit, hours ahead
    _dirty(tz_db, past, future)

    async def go():
        async with await _cagg_conn(tz_db, "Asia/Kolkata") as conn:
            return await _refresh_caggs(conn, _CAGG_CAPS)

    run(go())
    calls = _calls(tz_db)
    assert calls and all(end <= now for _, _, end in calls), calls
    with psycopg.connect(tz_db, autocommit=True) as conn:
        kept = conn.execute("SELECT bucket FROM rollup_dirty").fetchall()
    assert [_utc(r[0]) for r in kept] == [future.replace(second=0, microsecond=0)]


def test_refresh_windows_respect_the_retention_horizon():
    now = datetime(2026, 3, 1, 12, 30, 10, tzinfo=UTC)
    lo, hi = now - timedelta(days=40), now - timedelta(minutes=2)
    horizon = datetime(2026, 2, 20, 7, 15, 30, tzinfo=UTC)
    got = cagg_windows(lo, hi, now=now, horizon=horizon)
    assert [(w.view, w.start, w.end) for w in got] == [
        (
            "rollup_1m",
            datetime(2026, 2, 20, 7, 16, tzinfo=UTC),
            datetime(2026, 3, 1, 12, 29, tzinfo=UTC),
        ),
        ("rollup_1h", datetime(2026, 2, 20, 8, tzinfo=UTC), datetime(2026, 3, 1, 12, tzinfo=UTC)),
    ]
    assert cagg_windows(lo, lo + timedelta(minutes=5), now=now, horizon=horizon) == []
    assert cagg_windows(lo, hi, now=now, horizon=None)[0].start == lo.replace(second=0)


def test_late_data_before_the_retention_horizon_never_wipes_a_rollup(private_dsn, run):
    """Plain PostgreSQL: windows are dropped by retention, a late batch for the same minute
    arrives; recomputing that minute from what is left would replace its rollup."""
    run(migrate(private_dsn))
    t0 = (time.time_ns() - 3 * 86_400 * S) // (60 * S) * 60 * S + 5 * S
    tenant = "t-horizon"
    first = [build_batch(tenant, "d", s, t0_ns=t0 + s * S, windows=1) for s in range(1, 5)]
    late = build_batch(tenant, "d", 9, t0_ns=t0 + 30 * S, windows=1)

    async def go():
        store = Store(private_dsn)
        await store.open()
        m = Maintenance(private_dsn)
        try:
            await store.write([protos.IngestRequest(batch=b) for b in first])
            await m.run_once()
            before = await _windows_in_rollup(store)
            async with await psycopg.AsyncConnection.connect(private_dsn, autocommit=True) as c:
                caps = await detect(c)
                await apply_retention(c, caps, older_than=timedelta(days=1))
            await store.write([protos.IngestRequest(batch=late)])
            res = await m.run_once()
            return before, await _windows_in_rollup(store), res.rollups
        finally:
            await m.close()
            await store.close()

    before, after, res = run(go())
    assert before == after == 4
    assert res.before_horizon == 1 and res.dirty_buckets == 0


async def _windows_in_rollup(store: Store) -> int:
    async with store.pool.connection() as conn:
        cur = await conn.execute("SELECT coalesce(sum(windows), 0) FROM rollup_1m")
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


def test_retention_shorter_than_the_lookback_shortens_the_refresh_policies(tz_db, run):
    assert safe_lookback(timedelta(days=30), REFRESH_LOOKBACK) is None
    short = safe_lookback(timedelta(days=7), REFRESH_LOOKBACK)
    assert short is not None and short + timedelta(hours=2) <= timedelta(days=7)

    async def go():
        async with await _cagg_conn(tz_db, "Asia/Kolkata") as conn:
            kept = await set_cagg_policies(conn, short)
            gone = await set_cagg_policies(conn, timedelta(hours=2))
            return kept, gone

    kept, gone = run(go())
    assert kept == ["rollup_1m", "rollup_1h"] and gone == ["rollup_1m"]
    with psycopg.connect(tz_db, autocommit=True) as conn:
        adds = conn.execute(
            "SELECT view, a::interval, b::interval FROM tsfake.calls WHERE what = 'add'"
        ).fetchall()
    assert adds[:2] == [
        ("rollup_1m", short, timedelta(minutes=1)),
        ("rollup_1h", short, timedelta(hours=1)),
    ]


def test_capabilities_come_from_the_migrated_schema_not_the_server(private_dsn, run):
    """A database migrated without TimescaleDB, then the server reports the extension installed
    (emulated by views shadowing the catalog on search_path): it keeps working as plain PG."""
    run(migrate(private_dsn))
    with psycopg.connect(private_dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE SCHEMA shadow;"
            " CREATE VIEW shadow.pg_available_extensions AS"
            "  SELECT name, default_version, installed_version, comment"
            "  FROM pg_catalog.pg_available_extensions"
            "  UNION ALL SELECT 'timescaledb', '2.28.0', '2.28.0', 'installed later';"
            " CREATE VIEW shadow.pg_extension AS"
            "  SELECT extname, extversion FROM pg_catalog.pg_extension"
            "  UNION ALL SELECT 'timescaledb'::name, '2.28.0'::text"
        )
    shadowed = psycopg.conninfo.make_conninfo(
        private_dsn,
        options="-c search_path=shadow,pg_catalog,public -c timescaledb.license=timescale",
    )
    tenant = "t-caps"
    batch = build_batch(tenant, "d", 1, t0_ns=time.time_ns() - 120 * S)

    async def go():
        store = Store(shadowed)
        await store.open()
        m = Maintenance(shadowed)
        try:
            await store.write([protos.IngestRequest(batch=batch)])
            report = await m.run_once()
            return store.capabilities, report, await _windows_in_rollup(store)
        finally:
            await m.close()
            await store.close()

    caps, report, rolled = run(go())
    assert caps is not None and not caps.hypertables and not caps.continuous_aggregates
    assert report.rollups.dirty_buckets >= 1 and rolled == 2


def test_rollup_counts_are_bigint_on_every_path(migrated_dsn):
    """The hourly level rolls the minute level up with sums: sum(bigint) is numeric unless cast
    (the continuous-aggregate path used this list as is)."""
    with psycopg.connect(migrated_dsn) as conn:
        conn.execute(f"CREATE TEMP TABLE r AS SELECT {rollup_aggregates()} FROM rollup_1m")
        types = dict(
            conn.execute(
                "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute"
                " WHERE attrelid = 'r'::regclass AND attnum > 0"
            ).fetchall()
        )
    want = {n: {"float8": "double precision"}.get(t, t) for n, t in rollup_columns()}
    assert types == want
