"""Scale-out on one machine: two bridges (one shared subscription) and two cores share the load."""

from __future__ import annotations

import pytest

from binhai._audit import wait_stored
from firmware_sim import Fleet, FleetConfig
from tests.test_control import wait_bridges

pytestmark = [pytest.mark.db, pytest.mark.broker, pytest.mark.slow]


def test_two_bridges_and_two_cores_share_the_load_and_store_everything_once(
    stack, tmp_path, mqtt_url, migrated_dsn, unique_tenant
):
    st = stack(cores=2, bridges=2)
    for core in ("core-0", "core-1"):
        wait_bridges(st, core, n=2)
    cfg = FleetConfig(
        tenant=unique_tenant, broker_url=mqtt_url, data_dir=tmp_path / "d", devices=20,
        duration_s=20, speed=4,
    )  # fmt: skip
    report = Fleet(cfg).run()
    result = wait_stored(migrated_dsn, unique_tenant, report.seq_ranges, timeout=60)
    assert result["lost"] == 0 and result["duplicates"] == 0
    assert result["batches_stored"] == report.batches_sent

    bridges = [st.metrics(f"bridge-{i}") for i in range(2)]
    received = [m["binhai_bridge_received_total"] for m in bridges]
    assert all(n > 0 for n in received), received
    assert sum(received) >= report.batches_sent
    # Each bridge spreads its requests round robin over both cores...
    for m in bridges:
        per_core = [m[f'binhai_bridge_core_sent_total{{core="{a}"}}'] for a in st.core_addrs]
        assert all(n > 0 for n in per_core), per_core
    # ...and both cores committed batches.
    stored = [st.metrics(f"core-{i}")["binhai_core_ingest_batches_total"] for i in range(2)]
    assert all(n > 0 for n in stored), stored
    assert sum(stored) == report.batches_sent
