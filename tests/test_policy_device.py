"""A device under the cloud's policy: Policy commands reach the synergy uplink, are acked, and
the version the device runs shows in its health and stats (FakeTransport: the seam)."""

from __future__ import annotations

from pathlib import Path

import protos
from device_sdk import BatchPolicy, SynergyConfig
from tests.test_downlink import WAIT, acks, batches, command, make, wait_until


def test_a_policy_reaches_the_synergy_uplink_and_its_version_shows_in_health(
    tmp_path: Path,
) -> None:
    dev, fake = make(
        tmp_path,
        uplink="synergy",
        synergy=SynergyConfig(novelty_threshold=0.5),
        heartbeat_s=60.0,
        batch=BatchPolicy(max_windows=4, max_age_s=0.05),
    )
    try:
        assert dev.stats()["novelty_threshold"] == 0.5
        assert dev.stats()["policy_version"] == 0
        policy = protos.Policy(
            novelty_threshold=6.75, raw_per_episode=1, heartbeat_s=0.2, policy_version=3
        )
        fake.deliver(dev.down_topic, command("p1", policy=policy))
        wait_until(lambda: "p1" in acks(fake))
        assert acks(fake)["p1"].ok
        s = dev.stats()
        assert (s["novelty_threshold"], s["policy_version"], s["heartbeat_s"]) == (6.75, 3, 0.2)
        assert dev._engine.synergy is not None
        assert dev._engine.synergy.config.raw_per_episode == 1
        # the shorter heartbeat takes over at once and reports the version the device runs
        wait_until(lambda: any(b.health.policy_version == 3 for b in batches(fake)), WAIT)
        # a policy without a version keeps the one the device runs
        fake.deliver(dev.down_topic, command("p2", policy=protos.Policy(novelty_threshold=5.0)))
        wait_until(lambda: "p2" in acks(fake))
        assert (dev.stats()["policy_version"], dev.stats()["novelty_threshold"]) == (3, 5.0)
    finally:
        dev.close()


def test_out_of_range_synergy_fields_are_nacked_and_change_nothing(tmp_path: Path) -> None:
    dev, fake = make(tmp_path, uplink="synergy", heartbeat_s=60.0)
    try:
        bad = {
            "h0": protos.Policy(heartbeat_s=0.0, explicit=["heartbeat_s"], policy_version=9),
            "h1": protos.Policy(heartbeat_s=1e9),
            "r": protos.Policy(raw_per_episode=1000),
        }
        for cid, p in bad.items():
            fake.deliver(dev.down_topic, command(cid, policy=p))
        wait_until(lambda: set(bad) <= set(acks(fake)))
        got = acks(fake)
        assert "heartbeat_s must be 0.1..86400" in got["h0"].reason and not got["h0"].ok
        assert "heartbeat_s must be 0.1..86400" in got["h1"].reason
        assert "raw_per_episode must be 0..64" in got["r"].reason
        s = dev.stats()
        assert (s["policy_version"], s["heartbeat_s"]) == (0, 60.0)
        assert s["commands_nacked"] == 3
    finally:
        dev.close()


def test_a_budget_in_a_policy_becomes_the_synergy_uplinks_hard_limit(tmp_path: Path) -> None:
    dev, fake = make(tmp_path, uplink="synergy", heartbeat_s=60.0)
    try:
        p = protos.Policy(budget_bytes_per_s=10.0, budget_burst_bytes=500.0)
        fake.deliver(dev.down_topic, command("b", policy=p))
        wait_until(lambda: "b" in acks(fake))
        bucket = dev._engine.bucket
        assert (bucket.rate, bucket.capacity) == (10.0, 500.0)
        assert bucket.level <= 500.0
    finally:
        dev.close()
