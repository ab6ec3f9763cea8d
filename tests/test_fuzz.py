"""Fuzz: 10,000+ malformed, random and oversize messages at the bridge while valid traffic flows.

Every bad message must become exactly one dead letter with a reason (dead-lettered by the
bridge, or by the core for batches that decode but mean nothing storable), every valid batch
must be stored, and neither process may die. A private broker is used: the shared local one
keeps mosquitto's default ``max_queued_messages 1000`` per client and would drop QoS1
messages of a bridge that falls that far behind (see docs/ingest.md).
"""

from __future__ import annotations

import time
import uuid

import numpy as np
import psycopg
import pytest

import protos
from binhai._audit import wait_stored
from binhai._rawpub import publish_qos1
from binhai._stack import Stack
from tests.fix_stack import build_batch
from tests.fleet_bg import BackgroundFleet

pytestmark = [pytest.mark.db, pytest.mark.broker, pytest.mark.slow]

BAD_MESSAGES = 10_000
MAX_PAYLOAD = 64 * 1024  # the bridge's limit in this test, so oversize ones stay cheap


def _mutated_batch(rng: np.random.Generator, tenant: str, seq: int) -> tuple[str, bytes]:
    """A well-formed batch on its own topic that the core must refuse (never a valid one)."""
    device = f"fz-{seq % 50}"
    b = build_batch(tenant, device, seq, windows=2, raw=bool(rng.integers(2)))
    w = b.windows[int(rng.integers(2))]
    match int(rng.integers(6)):
        case 0:
            w.rate_hz = float(rng.choice([0.0, -50.0, np.nan, np.inf]))
        case 1:
            w.channels = 0
        case 2:
            w.offload = protos.Offload.OFFLOAD_UNSPECIFIED
        case 3:
            w.ClearField("features")
            w.offload = protos.Offload.OFFLOAD_FEATURES
        case 4:
            w.sensor = "\x00bad"
        case _:
            b.evicted.add(first=5, last=2, reason="backwards")
    return protos.topic_for(tenant, device, "up"), b.SerializeToString()


def bad_messages(tenant: str, n: int, seed: int = 20240601) -> list[tuple[str, bytes]]:
    """``n`` messages that must each be dead-lettered; deterministic for ``seed``."""
    rng = np.random.default_rng(seed)
    good = build_batch(tenant, "fz-0", 1).SerializeToString()
    # The payloads say fz-0, the topic fz-x: a damaged copy that still decodes cannot match.
    up = protos.topic_for(tenant, "fz-x", "up")
    weights = np.array([3, 3, 1, 1, 1, 1, 0.1, 1, 1])
    kinds = rng.choice(len(weights), size=n, p=weights / weights.sum())
    out: list[tuple[str, bytes]] = []
    for i, kind in enumerate(kinds):
        size = int(rng.integers(0, 3000))
        junk = rng.bytes(size)
        if kind == 0:  # random bytes
            out.append((up, junk))
        elif kind == 1:  # truncated or bit-flipped valid batch
            p = bytearray(good[: int(rng.integers(1, len(good)))])
            p[int(rng.integers(len(p)))] ^= 1 << int(rng.integers(8))
            out.append((up, bytes(p)))
        elif kind == 2:  # a valid batch of another device or tenant than the topic says
            other = build_batch(tenant if i % 2 else "t-other", f"fz-{i}", i + 1)
            out.append((up, other.SerializeToString()))
        elif kind == 3:  # batch without seq
            no_seq = protos.TelemetryBatch(tenant=tenant, device_id="fz-x")
            out.append((up, no_seq.SerializeToString()))
        elif kind == 4:  # invalid device ids in the topic (still matched by the subscription)
            bad_id = ["bad id!", "x" * 129, "dév", "a,b", "", "$sys"][int(rng.integers(6))]
            out.append((f"binhai/v1/{tenant}/{bad_id}/up", good))
        elif kind == 5:  # garbage on the status topic
            out.append((protos.topic_for(tenant, f"fz-{i % 50}", "status"), junk[:40] + b"?"))
        elif kind == 6:  # oversize (rare: each one is 64 KiB and more)
            out.append((up, rng.bytes(MAX_PAYLOAD + 1 + size)))
        elif kind == 7:  # decodes, but means nothing storable
            out.append(_mutated_batch(rng, tenant, 1_000_000 + i))
        else:  # deep nesting / huge varints / wrong wire types
            out.append((up, bytes([0x2A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F]) + junk[:64]))
    return out


def _dead_letters(dsn: str, tenant: str) -> tuple[int, int]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE reason = '' OR reason IS NULL)"
            " FROM dead_letters WHERE tenant = %s",
            (tenant,),
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def test_bad_input_is_all_dead_lettered_while_valid_traffic_is_all_stored(
    tmp_path, embedded_broker, migrated_dsn, unique_tenant
):
    bad = bad_messages(unique_tenant, BAD_MESSAGES)
    with Stack(
        tmp_path / "stack",
        dsn=migrated_dsn,
        mqtt_url=embedded_broker.url,
        tenant=unique_tenant,
        share_group=f"g{uuid.uuid4().hex[:8]}",
        bridge_args=("--max-payload", str(MAX_PAYLOAD)),
    ) as st:
        fleet = BackgroundFleet(
            unique_tenant, embedded_broker.url, tmp_path / "d", devices=10, duration_s=24, speed=3
        )
        time.sleep(1)
        u = protos.MqttUrl.parse(embedded_broker.url)
        publish_qos1(u.host, u.port, bad, v5=u.v5, window=200)
        report = fleet.join()
        result = wait_stored(migrated_dsn, unique_tenant, report.seq_ranges, timeout=60)
        deadline = time.monotonic() + 60
        while (n := _dead_letters(migrated_dsn, unique_tenant))[0] < len(bad):
            assert time.monotonic() < deadline, f"{n[0]} of {len(bad)} dead-lettered"
            time.sleep(0.2)
        time.sleep(1)  # nothing more may arrive
        dead, without_reason = _dead_letters(migrated_dsn, unique_tenant)
        alive = {name: p.alive for name, p in st.procs.items()}
        bridge = st.metrics("bridge-0")
    assert all(alive.values()), alive
    assert dead == len(bad) and without_reason == 0
    assert result["lost"] == 0 and result["duplicates"] == 0
    assert result["batches_stored"] == report.batches_sent > 0
    by_reason = {k: v for k, v in bridge.items() if k.startswith("binhai_bridge_dead_letters")}
    assert sum(by_reason.values()) > len(bad) / 2, by_reason  # most caught at the bridge
