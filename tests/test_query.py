"""The Query service over a real core and database, and the ``binhai query`` CLI."""

from __future__ import annotations

import asyncio
import json
import time

import grpc
import numpy as np
import pytest
from click.testing import CliRunner

import kernels
import protos
from binhai.cli import cli
from cloud_core import CoreConfig, Maintenance, start_core
from protos.binhai.v1 import query_pb2 as q
from tests.fix_stack import build_batch
from tests.test_storage import raw_batch

pytestmark = pytest.mark.db

S = 10**9


def _fleet(tenant: str) -> tuple[list[protos.TelemetryBatch], np.ndarray]:
    now = time.time_ns()
    batches = [build_batch(tenant, "d1", s, t0_ns=now - 50 * S + s * S) for s in (1, 2, 5, 9)]
    batches[2].evicted.add(first=3, last=4, reason="outbox_full")  # 6..8 stay unexplained
    batches[3].windows[0].novelty = 7.5  # one anomaly
    batches[3].health.outbox_depth = 12
    batches[3].health.evicted_batches = 2
    batches[3].health.battery = 0.5
    raw, xs = raw_batch(tenant, "d2", 1, t0_ns=now - 20 * S, channels=2, n=64)
    raw.windows[1].novelty = 4.0
    both, _ = raw_batch(tenant, "d2", 2, t0_ns=now - 10 * S, offload=3, lie=True)
    return [*batches, raw, both], xs[0]


def test_query_service_and_cli(migrated_dsn, unique_tenant, run):
    batches, x0 = _fleet(unique_tenant)
    runner = CliRunner()

    async def go():
        core = await start_core(CoreConfig(dsn=migrated_dsn, listen="127.0.0.1:0"))
        addr = f"127.0.0.1:{core.port}"
        try:
            out = await core.store.write([protos.IngestRequest(batch=b) for b in batches])
            assert all(o.stored for o in out)
            m = Maintenance(migrated_dsn)
            await m.run_once()
            await m.close()
            async with grpc.aio.insecure_channel(addr) as ch:
                stub = protos.query_pb2_grpc.QueryStub(ch)
                fleet = await stub.Fleet(q.FleetRequest(tenant=unique_tenant))
                dev = await stub.Device(q.DeviceRequest(tenant=unique_tenant, device_id="d1"))
                nodev = await stub.Device(q.DeviceRequest(tenant=unique_tenant, device_id="zz"))
                raw = await stub.RawWindow(
                    q.RawWindowRequest(tenant=unique_tenant, device_id="d2", seq=1, idx=0)
                )
                with pytest.raises(grpc.aio.AioRpcError) as missing:
                    await stub.RawWindow(
                        q.RawWindowRequest(tenant=unique_tenant, device_id="d2", seq=1, idx=9)
                    )
                conf = await stub.Conformance(q.ConformanceRequest(tenant=unique_tenant))
                series = await stub.Series(
                    q.SeriesRequest(
                        tenant=unique_tenant,
                        device_id="d1",
                        sensor="accel",
                        feature="rms",
                        start_ns=time.time_ns() - 3600 * S,
                        bucket_s=60,
                    )
                )

            def cli_json(*args: str) -> dict:
                res = runner.invoke(cli, ["query", *args, "--core-addr", addr, "--json"])
                assert res.exit_code == 0, res.output
                return json.loads(res.output.strip().splitlines()[-1])

            cli_out = await asyncio.to_thread(
                lambda: {
                    "fleet": cli_json("fleet", "--tenant", unique_tenant),
                    "device": cli_json("device", "--tenant", unique_tenant, "d1"),
                    "raw": cli_json("raw", "--tenant", unique_tenant, "d2", "1", "0"),
                    "series": cli_json(
                        "series",
                        "--tenant",
                        unique_tenant,
                        "d1",
                        "accel",
                        "std",
                        "--start",
                        "-1h",
                        "--bucket",
                        "60",
                    ),
                    "conformance": cli_json("conformance", "--tenant", unique_tenant, "d2"),
                    "text": runner.invoke(
                        cli,
                        ["query", "device", "--tenant", unique_tenant, "d1", "--core-addr", addr],
                    ).output,
                }
            )
            return fleet, dev, nodev, raw, missing.value.code(), conf, series, cli_out
        finally:
            await core.stop(5)

    fleet, dev, nodev, raw, missing_code, conf, series, cli_out = run(go())
    assert (fleet.devices_total, fleet.devices_online) == (2, 2)
    assert fleet.batches_last_minute == 6 and fleet.samples_last_minute > 0
    assert fleet.anomalies_last_hour == 2 and fleet.anomalous_devices_last_hour == 2
    assert [a.device_id for a in fleet.top_anomalous] == ["d1", "d2"]
    assert fleet.conformance_mismatches == 2
    assert dev.found and dev.online and dev.last_seq == 9 and dev.batches == 4
    assert (dev.gaps_explained, dev.gaps_unexplained) == (2, 3)
    assert dev.health_seq == 9 and dev.health.outbox_depth == 12
    assert dev.health.evicted_batches == 2
    assert not nodev.found
    assert raw.channels == 2 and raw.n_samples == 64 and raw.source == q.SOURCE_CLOUD
    assert np.array_equal(np.asarray(raw.samples, np.float32), x0.reshape(-1))
    assert list(raw.features[: len(kernels.FEATURE_NAMES)]) == pytest.approx(
        kernels.window_features(x0[0], 100.0).tolist()
    )
    assert missing_code == grpc.StatusCode.NOT_FOUND
    assert [(r.device_id, r.checked, r.mismatches) for r in conf.rows] == [("d2", 2, 2)]
    assert series.resolution == "rollup_1m" and sum(series.counts) == 8
    assert int(cli_out["fleet"]["devices_total"]) == 2  # JSON mapping: uint64 as strings
    assert int(cli_out["device"]["health"]["outbox_depth"]) == 12
    assert len(cli_out["raw"]["samples"]) == 128
    assert cli_out["series"]["resolution"] == "rollup_1m"
    assert cli_out["conformance"]["rows"][0]["device_id"] == "d2"
    assert "gaps_unexplained" in cli_out["text"]


def test_query_help_has_examples():
    runner = CliRunner()
    for sub in ("series", "fleet", "device", "raw", "conformance"):
        res = runner.invoke(cli, ["query", sub, "--help"])
        assert res.exit_code == 0 and "Examples:" in res.output and "--json" in res.output
