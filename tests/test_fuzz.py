"""Fuzz: 10,000+ malformed, random, oversize and crafted messages at the bridge while valid
traffic flows, against a core limited to 8 GiB of address space (``RLIMIT_AS``).

Crafted: decompression bombs (a codec header claiming 2**32 samples; 63 channels x 2**20
samples), absurd seqs, NUL bytes, numbers beyond their columns. Every bad message must become
exactly one dead letter with a reason (dead-lettered by the bridge, or by the core for batches
that decode but mean nothing storable); every valid batch — the fleet's, and crafted but valid
ones: heavy raw windows (2 MiB decoded each), a seq of 2**53 - 1 after a gap of that size, NUL
bytes where text may hold them — must be stored exactly once; no process may die; the core's
peak RSS stays bounded; ``binhai db stats`` answers under a 5 s statement timeout. A private
broker is used: the shared local one keeps mosquitto's default ``max_queued_messages 1000`` per
client and would drop QoS1 messages of a bridge that falls that far behind (docs/ingest.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import psycopg
import pytest

import kernels
import protos
from binhai._audit import wait_stored
from binhai._rawpub import publish_qos1
from binhai._stack import Stack
from tests.fix_stack import build_batch
from tests.fleet_bg import BackgroundFleet

pytestmark = [pytest.mark.db, pytest.mark.broker, pytest.mark.slow]

BAD_MESSAGES = 10_000
MAX_PAYLOAD = 64 * 1024  # the bridge's limit in this test, so oversize ones stay cheap
CORE_ADDRESS_SPACE = 8 << 30
CORE_RSS_BOUND = 2 << 30
MAX_SEQ = (1 << 53) - 1
NOW = time.time_ns()


def _bomb(claimed: int, block: int = 65535) -> bytes:
    """A codec stream whose header claims ``claimed`` samples, long enough for the decoder's
    one-byte-per-block length check: a decompression bomb if the header were trusted."""
    header = bytes([0xB7, 0x5A, 1, 0]) + claimed.to_bytes(4, "little") + block.to_bytes(2, "little")
    return header + bytes(-(-claimed // block))


def _crafted_bad(rng: np.random.Generator, tenant: str, seq: int) -> tuple[str, bytes]:
    """A crafted batch on its own topic that the core must refuse: bombs, absurd seqs, NUL
    bytes, numbers beyond their columns."""
    device = f"cr-{seq % 50}"
    b = build_batch(tenant, device, seq, windows=2, raw=True, t0_ns=NOW)
    w = b.windows[int(rng.integers(2))]
    match int(rng.integers(10)):
        case 0:
            w.raw.data = _bomb(2**32 - 1)  # 16 GiB if trusted
        case 1:
            w.channels, w.n_samples = 63, 1 << 20  # ~250 MB if decoded
            w.raw.data = kernels.encode_samples(np.zeros(64, np.float32))
        case 2:
            b.seq = [MAX_SEQ + 1, 2**63 - 1, 2**64 - 1][int(rng.integers(3))]
        case 3:
            b.evicted.add(first=1, last=b.seq + int(rng.integers(0, 2**40)), reason="absurd")
        case 4:
            w.sensor = "acc\x00el"
        case 5:
            w.features.algo_version = int(rng.integers(2**31, 2**32))
        case 6:
            w.raw.codec = int(rng.integers(5, 2**31))  # type: ignore[assignment]
        case 7:
            w.t0_ns = [2**63 - 1, -(2**62), NOW + 10 * 86_400 * 10**9][int(rng.integers(3))]
        case 8:
            w.n_samples = [2**32 - 1, 0, 65][int(rng.integers(3))]
        case _:
            w.rate_hz = float(rng.choice([np.inf, -1.0, np.nan]))
    return protos.topic_for(tenant, device, "up"), b.SerializeToString()


def crafted_valid(tenant: str) -> list[tuple[str, protos.TelemetryBatch]]:
    """Crafted batches that are valid and must be stored exactly once."""
    out = []
    heavy = np.zeros(32 * 16384, np.float32)  # 2 MiB decoded from ~40 kB
    data = kernels.encode_samples(heavy)
    for i in range(60):
        b = build_batch(tenant, f"heavy-{i % 6}", 1 + i // 6, windows=1, t0_ns=NOW + i * 10**9)
        w = b.windows[0]
        w.offload = protos.Offload.OFFLOAD_RAW
        w.ClearField("features")
        w.channels, w.n_samples = 32, 16384
        w.raw.codec, w.raw.data = protos.Codec.CODEC_BINHAI, data
        out.append(("heavy", b))
    far = build_batch(tenant, "far", MAX_SEQ, t0_ns=NOW)
    far.evicted.add(first=1, last=MAX_SEQ - 1, reason="outbox\x00full")  # NUL: escaped, kept
    far.health.firmware = "fw\x00x"
    far.health.outbox_depth = 2**32 - 1
    far.health.evicted_batches = 2**64 - 1  # clamped to bigint
    out.append(("far", far))
    return out


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
    weights = np.array([3, 3, 1, 1, 1, 1, 0.1, 1, 1, 1])
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
        elif kind == 9:  # crafted: bombs, absurd seqs, NUL bytes, out-of-range numbers
            out.append(_crafted_bad(rng, tenant, 2_000_000 + i))
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


def _stored(dsn: str, tenant: str, keys: list[tuple[str, int]]) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM batches b"
            " JOIN unnest(%s::text[], %s::bigint[]) AS k(d, s) ON b.device_id = k.d AND b.seq = k.s"
            " WHERE b.tenant = %s",
            ([k[0] for k in keys], [k[1] for k in keys], tenant),
        ).fetchone()
    assert row is not None
    return int(row[0])


def _peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def test_bad_input_is_all_dead_lettered_while_valid_traffic_is_all_stored(
    tmp_path, embedded_broker, migrated_dsn, unique_tenant
):
    bad = bad_messages(unique_tenant, BAD_MESSAGES)
    valid = crafted_valid(unique_tenant)
    valid_msgs = [
        (protos.topic_for(b.tenant, b.device_id, "up"), b.SerializeToString()) for _, b in valid
    ]
    with Stack(
        tmp_path / "stack",
        dsn=migrated_dsn,
        mqtt_url=embedded_broker.url,
        tenant=unique_tenant,
        share_group=f"g{uuid.uuid4().hex[:8]}",
        bridge_args=("--max-payload", str(MAX_PAYLOAD)),
        core_memory_limit=CORE_ADDRESS_SPACE,
    ) as st:
        fleet = BackgroundFleet(
            unique_tenant, embedded_broker.url, tmp_path / "d", devices=10, duration_s=24, speed=3
        )
        time.sleep(1)
        u = protos.MqttUrl.parse(embedded_broker.url)
        mixed = bad[: len(bad) // 2] + valid_msgs + bad[len(bad) // 2 :]
        publish_qos1(u.host, u.port, mixed, v5=u.v5, window=200)
        report = fleet.join()
        result = wait_stored(migrated_dsn, unique_tenant, report.seq_ranges, timeout=60)
        deadline = time.monotonic() + 60
        while (n := _dead_letters(migrated_dsn, unique_tenant))[0] < len(bad):
            assert time.monotonic() < deadline, f"{n[0]} of {len(bad)} dead-lettered"
            time.sleep(0.2)
        time.sleep(1)  # nothing more may arrive
        dead, without_reason = _dead_letters(migrated_dsn, unique_tenant)
        stored_valid = _stored(
            migrated_dsn, unique_tenant, [(b.device_id, b.seq) for _, b in valid]
        )
        alive = {name: p.alive for name, p in st.procs.items()}
        bridge = st.metrics("bridge-0")
        core_pid = st.procs["core-0"].popen.pid  # type: ignore[union-attr]
        peak = _peak_rss(core_pid)
        t0 = time.monotonic()
        cli = subprocess.run(
            [sys.executable, "-m", "binhai", "db", "stats", "--dsn", migrated_dsn, "--json"],
            capture_output=True,
            text=True,
            env={**os.environ, "PGOPTIONS": "-c statement_timeout=5000"},
        )
        stats_s = time.monotonic() - t0
    print(
        json.dumps(
            {"bad": len(bad), "valid_crafted": len(valid), "dead_letters": dead,
             "core_peak_rss_mb": peak >> 20, "db_stats_s": round(stats_s, 2)}
        )
    )  # fmt: skip
    assert all(alive.values()), alive
    assert dead == len(bad) and without_reason == 0
    assert stored_valid == len(valid)
    assert result["lost"] == 0 and result["duplicates"] == 0
    assert result["batches_stored"] == report.batches_sent > 0
    by_reason = {k: v for k, v in bridge.items() if k.startswith("binhai_bridge_dead_letters")}
    assert sum(by_reason.values()) > len(bad) / 2, by_reason  # most caught at the bridge
    assert peak < CORE_RSS_BOUND, peak
    assert cli.returncode == 0, cli.stderr  # every statement under 5 s
