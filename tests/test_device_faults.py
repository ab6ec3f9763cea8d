"""Device faults on real services: a broker outage, SIGKILLed devices, a full outbox.

Each test runs a private mosquitto (``embedded_broker``, which it stops and restarts) and a real
bridge + core deployment pointed at it, writing to the session's PostgreSQL; the database is then
audited by seq: every batch stored exactly once, or its seq inside a reported eviction range.

The deployment's single bridge uses a plain (not shared) persistent subscription: mosquitto 2.0
does not restore *shared* subscriptions after a restart, so batches it had PUBACKed but not yet
delivered would reach nobody (see ``Stack._share_group``). The outbox-full test still waits for
the bridge (``_wait_bridge``) because its broker has never seen the bridge's session before.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

import kernels
import protos
from binhai._audit import audit, wait_stored
from binhai._embedded import EmbeddedBroker
from binhai._stack import Stack
from device_sdk import BatchPolicy, Device, MqttOptions, OutboxLimits
from tests.fix_stack import build_batch

pytestmark = [pytest.mark.db, pytest.mark.broker]


@pytest.fixture
def private_stack(
    tmp_path: Path, embedded_broker: EmbeddedBroker, migrated_dsn: str, unique_tenant: str
) -> Iterator[Stack]:
    """Bridge + core on the test's private broker and the session database."""
    with Stack(
        tmp_path / "stack",
        dsn=migrated_dsn,
        mqtt_url=embedded_broker.url,
        tenant=unique_tenant,
    ) as st:
        yield st


def _stored(dsn: str, tenant: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM batches WHERE tenant = %s", (tenant,)).fetchone()
    return int(row[0]) if row else 0


def _wait_bridge(url: str, dsn: str, tenant: str, seq: int, timeout: float = 60) -> None:
    """Publish a probe batch until the bridge stores it (it has resubscribed after a restart)."""
    u = protos.MqttUrl.parse(url)
    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5 if u.v5 else mqtt.MQTTv311)
    c.connect(u.host, u.port)
    c.loop_start()
    deadline = time.monotonic() + timeout
    try:
        while True:
            batch = build_batch(tenant, "probe", seq).SerializeToString()
            c.publish(f"binhai/v1/{tenant}/probe/up", batch, qos=1).wait_for_publish(10)
            for _ in range(10):
                with psycopg.connect(dsn, autocommit=True) as conn:
                    row = conn.execute(
                        "SELECT 1 FROM batches WHERE tenant = %s AND device_id = 'probe'"
                        " AND seq = %s",
                        (tenant, seq),
                    ).fetchone()
                if row:
                    return
                time.sleep(0.2)
            assert time.monotonic() < deadline, "the bridge did not come back"
    finally:
        c.loop_stop()
        c.disconnect()


def _sim(url: str, tenant: str, data: Path, duration: float, log: Path) -> subprocess.Popen[str]:
    args = [sys.executable, "-m", "binhai", "sim", "run", "--devices", "2", "--data-dir", str(data),
            "--mqtt-url", url, "--tenant", tenant, "--duration", str(duration), "--heartbeat", "5",
            "--json"]  # fmt: skip
    with open(log, "ab") as fh:
        return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=fh, text=True)


@pytest.mark.slow
def test_broker_outage_and_sigkilled_device_lose_nothing(
    tmp_path: Path,
    private_stack: Stack,
    embedded_broker: EmbeddedBroker,
    migrated_dsn: str,
    unique_tenant: str,
) -> None:
    data, log = tmp_path / "devices", tmp_path / "sim.log"
    first = _sim(embedded_broker.url, unique_tenant, data, 600, log)
    try:
        deadline = time.monotonic() + 60
        while _stored(migrated_dsn, unique_tenant) < 4:
            assert first.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.2)
        embedded_broker.stop()  # 30 s outage; the devices keep streaming into their outboxes
        outage_started = time.monotonic()
        time.sleep(12)
        first.send_signal(signal.SIGKILL)  # mid-outage, with a full queue on disk
        first.wait(timeout=30)
        second = _sim(embedded_broker.url, unique_tenant, data, 40, log)
        time.sleep(max(0.0, 30 - (time.monotonic() - outage_started)))
        embedded_broker.start()
        out, _ = second.communicate(timeout=180)
    finally:
        for p in (first, locals().get("second")):
            if isinstance(p, subprocess.Popen):
                if p.poll() is None:
                    p.kill()
                    p.wait()
                if p.stdout is not None:
                    p.stdout.close()
    assert second.returncode == 0, log.read_text()[-2000:]
    summary = json.loads(out.strip().splitlines()[-1])
    ranges = {d: (1, hi) for d, (_lo, hi) in summary["seq_ranges"].items()}
    assert len(ranges) == 2 and all(hi > 20 for _, hi in ranges.values())
    result = wait_stored(migrated_dsn, unique_tenant, ranges, timeout=60)
    assert result["lost"] == 0, (result, _missing(migrated_dsn, unique_tenant, ranges))
    assert result["duplicates"] == 0, result
    assert result["batches_stored"] + result["evicted"] == result["batches_sent"]


def _missing(dsn: str, tenant: str, ranges: dict[str, tuple[int, int]]) -> dict[str, list[int]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        out = {}
        for dev, (lo, hi) in ranges.items():
            rows = conn.execute(
                "SELECT seq FROM batches WHERE tenant = %s AND device_id = %s", (tenant, dev)
            ).fetchall()
            have = {int(r[0]) for r in rows}
            out[dev] = [q for q in range(lo, hi + 1) if q not in have]
    return out


def _stats_cli(dsn: str, tenant: str) -> dict[str, int]:
    out = subprocess.run(
        [sys.executable, "-m", "binhai", "db", "stats", "--dsn", dsn, "--tenant", tenant, "--json"],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ},
    ).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _full_device(tenant: str, url: str, data_dir: Path) -> Device:
    return Device(
        "full-1",
        tenant=tenant,
        broker_url=url,
        data_dir=data_dir,
        outbox=OutboxLimits(max_bytes=12_000, raw_cache_bytes=0),
        batch=BatchPolicy(max_windows=2, max_age_s=0.05),
        # every window BOTH (features + raw): the raw part is the first thing eviction drops
        offload_policy=kernels.OffloadPolicy(novelty_threshold=1e9, both_fraction=1.0),
        mqtt=MqttOptions(reconnect_spread_s=1.0, backoff_max_s=2.0),
    )


def test_outbox_full_evicts_by_policy_and_every_gap_is_explained(
    tmp_path: Path,
    private_stack: Stack,
    embedded_broker: EmbeddedBroker,
    migrated_dsn: str,
    unique_tenant: str,
) -> None:
    embedded_broker.stop()  # unreachable from the start
    dev = _full_device(unique_tenant, embedded_broker.url, tmp_path / "dev")
    rng = np.random.default_rng(5)
    t0 = time.time() - 600
    try:
        dev.add_sensor("acc", rate_hz=50.0, channels=3, window=32, hop=32)
        dev.push("acc", rng.standard_normal((32 * 80, 3)), t0=t0)
        deadline = time.monotonic() + 30
        # Every window processed and the outbox back under its bound (the worker evicts right
        # after each append).
        while (s := dev.stats())["windows"] < 80 or s["outbox_bytes"] > 12_000:
            assert time.monotonic() < deadline, s
            time.sleep(0.05)
        dev.close(timeout=0.5)  # what is queued stays on disk
        # Counted once the worker has stopped: a batch still open when the loop above ended is
        # closed (and may evict another) by the close.
        s = dev.stats()
        assert s["outbox_raw_dropped"] > 0 and s["outbox_evicted_batches"] > 0
        embedded_broker.start()
        _wait_bridge(embedded_broker.url, migrated_dsn, unique_tenant, 1)
        dev = _full_device(unique_tenant, embedded_broker.url, tmp_path / "dev")
        dev.add_sensor("acc", rate_hz=50.0, channels=3, window=32, hop=32)
        assert dev.flush(60)
        dev.push("acc", rng.standard_normal((64, 3)), t0=t0 + 3600)  # carries unreported ranges
        assert dev.flush(60)
        s = {**s, **{k: v for k, v in dev.stats().items() if k == "next_seq"}}
    finally:
        dev.close()
    ranges = {"full-1": (1, s["next_seq"] - 1)}
    result = wait_stored(migrated_dsn, unique_tenant, ranges, timeout=60)
    assert result["lost"] == 0 and result["evicted"] == s["outbox_evicted_batches"], result
    stats = _stats_cli(migrated_dsn, unique_tenant)
    assert stats["gaps_unexplained"] == 0, stats
    assert stats["gaps_explained"] == s["outbox_evicted_batches"] > 0, stats
    with psycopg.connect(migrated_dsn, autocommit=True) as conn:
        reasons = {
            r[0]
            for r in conn.execute(
                "SELECT reason FROM evictions WHERE tenant = %s", (unique_tenant,)
            )
        }
        assert reasons == {"outbox_full"}
        assert audit(conn, unique_tenant, ranges)["duplicates"] == 0
