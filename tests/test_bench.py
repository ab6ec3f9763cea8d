"""The benchmark layer: corpora load, codec comparison keys, rendering (no timings asserted)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import kernels
from binhai.bench import codec, corpora
from binhai.cli.bench_kernels import render_codec


def test_read_ts_parses_cases_and_dimensions(tmp_path: Path) -> None:
    path = tmp_path / "Tiny_TRAIN.ts"
    path.write_text(
        "# a comment\n@problemName Tiny\n@univariate false\n@data\n"
        "0.5,1.25,-2:3,4,5e-3:walk\n\n1,2,3:4,5,6:run\n",
        encoding="utf-8",
    )
    cases = corpora.read_ts(path)
    assert len(cases) == 2
    assert [d.dtype for d in cases[0]] == [np.float32, np.float32]
    np.testing.assert_array_equal(cases[0][1], np.float32([3, 4, 5e-3]))


def test_recorded_corpora_come_from_the_installed_archive() -> None:
    got = {c.name: c for c in corpora.recorded()}
    assert set(got) == {"watch_imu", "appliance_current", "appliance_power"}
    assert {w.size for w in got["watch_imu"].windows} == {600}  # 6 channels x 100, one recording
    assert all(100 <= w.size <= 500 for w in got["appliance_current"].windows)
    assert {w.size for w in got["appliance_power"].windows} == {365}
    for c in got.values():
        assert c.recorded and all(w.dtype == np.float32 for w in c.windows)
        w = c.windows[len(c.windows) // 2]
        assert kernels.decode_samples(kernels.encode_samples(w)).tobytes() == w.tobytes()


def test_codec_comparison_reports_every_peer_and_renders() -> None:
    corpus = corpora.Corpus("tiny", False, [w[:200] for w in corpora.synthetic()[1].windows[:3]])
    res = codec.compare(corpus, codec.peers())
    sizes = [
        res[f"{k}_bytes_per_sample"] for k in ("gorilla", "zstd3", "pcodec", "blosc2_bytedelta")
    ]
    assert min(sizes) > 0
    best = min(sizes)
    assert res["ratio_vs_best_peer"] == res["bytes_per_sample"] / best
    report = {
        "tiny": res,
        "corpora": ["tiny"],
        "peers_available": {"pcodec": True},
        "recorded_available": True,
        "encode_mb_s": 1.0,
        "decode_mb_s": 1.0,
        "encode_window_us": 1.0,
    }
    res.update(encode_mb_s=1.0, decode_mb_s=1.0)
    text = "\n".join(render_codec(report))
    assert "tiny" in text and "pcodec" in text


def test_device_footprint_renders_aot_jit_and_the_paho_floor() -> None:
    from binhai.cli.bench_device import render

    r: dict[str, object] = {
        "cold_start_transport": "mqtt",
        "kernels_backend": "aot",
        "cold_start_warm_cache_s": 0.4,
        "cold_start_first_run_s": 0.5,
        "jit_cold_start_warm_cache_s": 1.1,
        "rss_mb": 58.0,
        "uss_mb": 31.0,
        "jit_rss_mb": 188.0,
        "jit_uss_mb": 122.0,
        "paho_floor_rss_mb": 22.6,
        "paho_floor_uss_mb": 12.1,
        "paho_floor_batches": 202,
        "cpu_us_per_1k_samples": 11000.0,
        "jit_cpu_us_per_1k_samples": 11800.0,
        "edge_us_per_window": 98.0,
        "batches_per_1k_samples": 15.6,
        "synergy_cpu_us_per_1k_samples": 6700.0,
        "jit_synergy_cpu_us_per_1k_samples": 8400.0,
        "devices_per_core_at_50hz_3axis": 1750.0,
        "outbox_batches_per_s": 2000.0,
        "sqlite_plain_full_batches_per_s": 2500.0,
        "outbox_normal_sync_batches_per_s": 16000.0,
        "outbox_no_fsync_batches_per_s": 22000.0,
        "segment_log_fsync_batches_per_s": 5000.0,
    }
    text = render(r)
    assert "kernels: aot" in text
    assert "58.0 MB  target <= 100.0  ok" in text and "JIT 188.0 MB" in text
    assert "bare paho client (floor)    22.6 MB" in text and "202 batches" in text
    del r["paho_floor_rss_mb"]
    assert "n/a" in render(r)  # no broker: no floor


def test_recorded_batches_round_trip(tmp_path: Path) -> None:
    from binhai.bench.footprint import peak_rss_mb, read_batches, write_batches

    sent = [("binhai/v1/t/d/up", b"\x00\x01payload"), ("binhai/v1/t/d/status", b"")]
    write_batches(tmp_path / "b.bin", sent)
    assert read_batches(tmp_path / "b.bin") == sent
    assert peak_rss_mb() > 1.0
