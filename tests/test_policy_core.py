"""The core's policy loop on a real PostgreSQL and real gRPC: rounds counted from stored fleet
state, changes stored and sent as commands, operators' overrides through ``binhai policy``
against a real core, and a real device receiving and acking its policy over a real broker."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import psycopg
import pytest
from click.testing import CliRunner

import protos
from binhai.cli import cli
from cloud_core import CoreConfig, PolicyEngineConfig, start_core
from device_sdk import DEFAULT_FEATURE_SET, BatchPolicy, Device, SynergyConfig
from tests.fix_stack import build_batch
from tests.test_control import wait_bridges

pytestmark = [pytest.mark.db]

NOVEL = int(protos.WindowFlag.FLAG_NOVEL)


def _batch(
    tenant: str, device: str, seq: int, *, novel_windows: int, summarised: int, novel: int,
    battery: float,
) -> protos.TelemetryBatch:  # fmt: skip
    """``novel_windows`` novel-only windows, a summary of ``summarised`` windows of which
    ``novel`` were novel, and a heartbeat at ``battery``."""
    b = build_batch(tenant, device, seq, windows=max(novel_windows, 1))
    for w in b.windows[:novel_windows]:
        w.flags = NOVEL
    if summarised:
        k = len(DEFAULT_FEATURE_SET)
        half = np.zeros(k, dtype="<f2").tobytes()
        t0 = b.windows[0].t0_ns
        s = b.summaries.add(
            sensor="accel", t0_ns=t0, t1_ns=t0 + summarised * 1_280_000_000, windows=summarised,
            channels=1, rate_hz=50.0, n_samples=64, novelty_max=1.0, novel=novel,
            mean=half, min=half, max=half,
        )  # fmt: skip
        s.index.extend(DEFAULT_FEATURE_SET)
    b.health.battery = battery
    return b


def _commands(dsn: str, tenant: str) -> dict[str, protos.Policy]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT device_id, body FROM commands WHERE tenant = %s AND kind = 'policy'"
            " ORDER BY created_at",
            (tenant,),
        ).fetchall()
    return {d: protos.Command.FromString(body).policy for d, body in rows}


def test_a_round_counts_stored_fleet_state_and_sends_changes(migrated_dsn, unique_tenant, run):
    t = unique_tenant

    async def go():
        cfg = CoreConfig(
            dsn=migrated_dsn, listen="127.0.0.1:0", maintenance=None,
            policy=PolicyEngineConfig(period_s=3600.0),
        )  # fmt: skip
        core = await start_core(cfg)
        try:
            reqs = [
                # chatty: 10 + 5 novel of 40 windows -> threshold x 1.5^3
                _batch(t, "chatty", 1, novel_windows=10, summarised=30, novel=5, battery=0.9),
                # on target, but its battery runs low -> low-power policy
                _batch(t, "tired", 1, novel_windows=0, summarised=99, novel=2, battery=0.1),
                # the windows uplink (no summaries): not steered by its flag rate
                _batch(t, "plain", 1, novel_windows=30, summarised=0, novel=0, battery=0.9),
            ]
            out = await core.store.write([protos.IngestRequest(batch=b) for b in reqs])
            assert all(o.stored for o in out)
            changes = await core.policy.round_once()
            again = await core.policy.round_once()  # nothing new since: nothing to do
            counted = (core.metrics.policy_rounds, core.metrics.policy_commands)
        finally:
            await core.stop(5)
        # a restarted core takes up the stored state
        core = await start_core(cfg)
        try:
            state = core.policy.engine.state(t, "chatty")
            restored = (state.threshold, state.version)
        finally:
            await core.stop(5)
        return changes, again, restored, counted

    changes, again, restored, counted = run(go())
    assert counted == (2, len(changes))  # every tenant of the session database counts
    by = {c.device: c for c in changes if c.tenant == t}
    assert set(by) == {"chatty", "tired"} and again == []
    assert by["chatty"].fields == {"novelty_threshold": 13.5} and by["chatty"].version == 1
    assert by["tired"].fields == {
        "novelty_threshold": 4.0, "heartbeat_s": 600.0, "raw_per_episode": 1.0
    }  # fmt: skip
    sent = _commands(migrated_dsn, t)
    assert sent["chatty"].novelty_threshold == 13.5 and sent["chatty"].policy_version == 1
    assert sent["tired"].heartbeat_s == 600.0 and sent["tired"].raw_per_episode == 1
    assert restored == (13.5, 1)


def _cli(*args: str) -> dict:
    res = CliRunner().invoke(cli, list(args))
    assert res.exit_code == 0, res.output
    return json.loads(res.output.strip().splitlines()[-1])


@pytest.mark.broker
def test_policy_set_and_show_round_trip_and_the_device_acks(
    stack, mqtt_url, migrated_dsn, unique_tenant, tmp_path: Path
):
    t = unique_tenant
    st = stack()
    wait_bridges(st)
    addr = ["--core-addr", st.core_addrs[0], "--tenant", t]
    dev = Device(
        "wrist-1", tenant=t, broker_url=mqtt_url, data_dir=tmp_path / "dev", uplink="synergy",
        heartbeat_s=0.5, batch=BatchPolicy(max_age_s=0.1),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not dev.stats()["connected"]:
            assert time.monotonic() < deadline, "device never connected"
            time.sleep(0.05)
        time.sleep(0.5)  # its subscription to the down topic is in place
        # the group pin reaches the device; the tenant pin too, unless the group overrides it
        assert _cli("policy", "set", *addr, "heartbeat_s=0.4", "novelty_threshold=3", "--json")
        assert _cli("policy", "set", *addr, "--group", "wrist-*", "novelty_threshold=6.5",
                    "--json")["commands"] >= 1  # fmt: skip
        deadline = time.monotonic() + 20
        while dev.stats()["novelty_threshold"] != 6.5:
            assert time.monotonic() < deadline, dev.stats()
            time.sleep(0.05)
        assert dev.stats()["heartbeat_s"] == 0.4
        version = dev.stats()["policy_version"]
        assert version >= 2
        deadline = time.monotonic() + 20
        while (shown := _cli("policy", "show", *addr, "--device", "wrist-1", "--json"))[
            "device_version"
        ] != version:
            assert time.monotonic() < deadline, shown
            time.sleep(0.2)
    finally:
        dev.close()
    assert shown["version"] == version
    assert shown["fields"]["novelty_threshold"] == {
        "value": 6.5,
        "source": "operator:group:wrist-*",
    }
    assert shown["fields"]["heartbeat_s"] == {"value": 0.4, "source": "operator:tenant"}
    assert shown["pinned"] == {}
    group = _cli("policy", "show", *addr, "--group", "wrist-*", "--json")
    assert group["pinned"] == {"novelty_threshold": 6.5}
    tenant = _cli("policy", "show", *addr, "--json")
    assert tenant["fields"]["novelty_threshold"]["source"] == "operator:tenant"
    # every policy command was acked ok by the device
    with psycopg.connect(migrated_dsn, autocommit=True) as conn:
        acks = conn.execute(
            "SELECT c.id, a.ok FROM commands c LEFT JOIN command_acks a"
            " ON a.tenant = c.tenant AND a.device_id = c.device_id AND a.command_id = c.id"
            " WHERE c.tenant = %s AND c.kind = 'policy'",
            (t,),
        ).fetchall()
    assert len(acks) == 2 and all(ok for _id, ok in acks), acks
    # the core refuses what it cannot set, and the CLI says why in one line
    for bad, why in (("bogus=1", "unknown policy field 'bogus'"), ("heartbeat_s=0", "0.1..")):
        res = CliRunner().invoke(cli, ["policy", "set", *addr, bad])
        assert res.exit_code != 0 and "INVALID_ARGUMENT" in res.output and why in res.output


def test_policy_cli_refuses_bad_input_with_one_line():
    res = CliRunner().invoke(
        cli, ["policy", "set", "--tenant", "t", "--core-addr", "127.0.0.1:1", "novelty_threshold"]
    )
    assert res.exit_code != 0 and "expected FIELD=VALUE" in res.output
    res = CliRunner().invoke(
        cli, ["policy", "set", "--tenant", "t", "--group", "g", "--device", "d", "x=1"]
    )
    assert res.exit_code != 0 and "not both" in res.output


@pytest.mark.broker
def test_the_core_closes_the_loop_with_a_real_device(
    stack, mqtt_url, migrated_dsn, unique_tenant, tmp_path: Path
):
    """A synergy device that calls every window novel (threshold 0) streams through a real
    broker, bridge and core; the core's engine (a round every second) raises its threshold and
    the device runs the new policy."""
    st = stack(core_args=("--policy-period", "1"))
    wait_bridges(st)
    dev = Device(
        "chatty-1", tenant=unique_tenant, broker_url=mqtt_url, data_dir=tmp_path / "dev",
        uplink="synergy", synergy=SynergyConfig(novelty_threshold=0.0), heartbeat_s=0.5,
        batch=BatchPolicy(max_age_s=0.1),
    )  # fmt: skip
    try:
        dev.add_sensor("acc", rate_hz=50.0, channels=3, window=32, hop=32)
        rng = np.random.default_rng(1)
        t0 = time.time()
        deadline = time.monotonic() + 30
        k = 0
        while dev.stats()["policy_version"] == 0:
            assert time.monotonic() < deadline, dev.stats()
            x = rng.standard_normal((320, 3)).astype(np.float32)
            dev.push("acc", x, t0=t0 if k == 0 else None)
            k += 1
            time.sleep(0.2)
        threshold = dev.stats()["novelty_threshold"]
    finally:
        dev.close()
    assert threshold > 1.0
    shown = _cli("policy", "show", "--core-addr", st.core_addrs[0], "--tenant", unique_tenant,
                 "--device", "chatty-1", "--json")  # fmt: skip
    assert shown["fields"]["novelty_threshold"]["source"] == "engine"
    assert shown["fields"]["novelty_threshold"]["value"] >= threshold
