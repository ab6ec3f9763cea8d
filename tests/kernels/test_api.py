"""Public API: input validation, properties of the decisions and detectors, golden vectors."""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kernels
from tests.kernels import signals
from tests.kernels.make_golden import GOLDEN

FS = signals.FS


def test_public_api() -> None:
    assert set(kernels.__all__) <= set(dir(kernels))
    assert len(set(kernels.FEATURE_NAMES)) == len(kernels.FEATURE_NAMES)
    for name in ("mean", "std", "spectral_flatness", "band_power_7", "peak_count"):
        assert name in kernels.FEATURE_NAMES
    assert (kernels.FEATURES, kernels.RAW, kernels.BOTH) == (1, 2, 3)
    assert issubclass(kernels.KernelError, ValueError)


@pytest.mark.parametrize(
    ("x", "fs", "arg"),
    [
        (np.zeros(8, dtype=np.int32), 50.0, "x"),
        (np.zeros((2, 8)), 50.0, "x"),
        ([1.0, 2.0], 50.0, "x"),
        (np.zeros(0), 50.0, "x"),
        (np.zeros(8), 0.0, "fs"),
        (np.zeros(8), float("nan"), "fs"),
        (np.zeros(8), float("inf"), "fs"),
        (np.zeros(8), "fast", "fs"),
    ],
)
def test_window_features_rejects_bad_input(x: object, fs: object, arg: str) -> None:
    with pytest.raises(kernels.KernelInputError) as info:
        kernels.window_features(x, fs)  # type: ignore[arg-type]
    assert info.value.argument == arg


def test_batch_rejects_1d_and_accepts_empty() -> None:
    with pytest.raises(kernels.KernelError):
        kernels.window_features_batch(np.zeros(8), FS)
    empty = kernels.window_features_batch(np.zeros((0, 8)), FS)
    assert empty.shape == (0, len(kernels.FEATURE_NAMES))


def test_features_non_contiguous_input() -> None:
    xs = np.random.default_rng(0).standard_normal((8, 64))
    np.testing.assert_array_equal(
        kernels.window_features(xs[:, 3], FS), kernels.window_features(xs[:, 3].copy(), FS)
    )


def test_golden_vectors() -> None:
    g = np.load(GOLDEN)
    assert int(g["algo_version"]) == kernels.ALGO_VERSION, "regenerate golden.npz with the bump"
    assert tuple(g["feature_names"]) == kernels.FEATURE_NAMES
    got = kernels.window_features_batch(g["windows"], FS)
    np.testing.assert_allclose(got, g["features"], rtol=2e-6, atol=1e-6)
    # the stream format is stable: the same input encodes to the same bytes, which decode
    stream = g["codec_bytes"].tobytes()
    assert stream[2] == 4, "golden.npz holds a version-4 stream"
    np.testing.assert_array_equal(
        kernels.decode_samples(stream).view(np.uint32), g["codec_input"].view(np.uint32)
    )
    assert kernels.encode_samples(g["codec_input"]) == stream


@pytest.mark.parametrize("version", [1, 2, 3])
def test_codec_old_version_streams_still_decode(version: int) -> None:
    """Streams written by an earlier encoder decode to exactly the bits they did then."""
    g = np.load(GOLDEN.with_name(f"golden_codec_v{version}.npz"))
    names = sorted({k.split("__")[0] for k in g.files})
    assert len(names) >= 10
    for name in names:
        stream = g[f"{name}__stream"].tobytes()
        assert stream[2] == version
        got = kernels.decode_samples(stream)
        want = g[f"{name}__decoded"]
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32), err_msg=name)
        if not name.startswith("lossy"):
            np.testing.assert_array_equal(got.view(np.uint32), g[f"{name}__input"].view(np.uint32))


def test_codec_max_samples_is_checked_before_allocating() -> None:
    x = signals.walking_accel(300).T.ravel()
    b = kernels.encode_samples(x)
    assert kernels.decode_samples(b, max_samples=x.size).size == x.size
    with pytest.raises(kernels.CodecError, match="limit"):
        kernels.decode_samples(b, max_samples=x.size - 1)
    # a header claiming 2**32 - 1 samples over a few bytes: rejected, nothing allocated
    bogus = b[:4] + (0xFFFFFFFF).to_bytes(4, "little") + (4096).to_bytes(2, "little") + b"\0" * 8
    tracemalloc.start()
    try:
        with pytest.raises(kernels.CodecError):
            kernels.decode_samples(bogus)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_codec_compresses_sensor_data() -> None:
    adc = signals.walking_accel(1024).T.ravel()
    assert len(kernels.encode_samples(adc)) < 0.55 * adc.nbytes  # ~500 counts of noise
    temp = signals.temperature_log(4096)
    assert len(kernels.encode_samples(temp)) < 0.15 * temp.nbytes


def test_codec_rejects_bad_input_and_corrupt_streams() -> None:
    with pytest.raises(kernels.KernelInputError):
        kernels.encode_samples(np.zeros(4))
    with pytest.raises(kernels.KernelInputError):
        kernels.encode_samples(np.zeros(4, dtype=np.float32), resolution=0.0)
    x = signals.walking_accel(700).T.ravel()
    good = kernels.encode_samples(x)
    for bad in (b"", b"xx", good[:-1], good[:15], good + b"\0", b"\x00" + good[1:]):
        with pytest.raises(kernels.CodecError):
            kernels.decode_samples(bad)


def test_codec_random_corruption_never_crashes() -> None:
    rng = np.random.default_rng(5)
    x = np.concatenate([signals.walking_accel(300).T.ravel(), rng.standard_normal(500)])
    good = bytearray(kernels.encode_samples(x.astype(np.float32)))
    for _ in range(300):
        bad = bytearray(good)
        for i in rng.integers(0, len(bad), 3):
            bad[i] = int(rng.integers(0, 256))
        try:
            y = kernels.decode_samples(bytes(bad))
        except kernels.CodecError:
            continue
        assert y.dtype == np.float32


def _offload_inputs(m: int = 50, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    nov = rng.exponential(0.3, m)
    nov[[3, 17, 41]] = [5.0, 9.0, 2.5]
    return nov, rng.integers(800, 2000, m).astype(np.float64)


@pytest.mark.parametrize("tokens", [0.0, 1000.0, 7000.0, 9000.0, 50_000.0, 1e7])
def test_offload_never_exceeds_budget(tokens: float) -> None:
    nov, raw = _offload_inputs()
    pol = kernels.OffloadPolicy(both_fraction=0.2, explore_fraction=0.3)
    modes, left = kernels.decide_offload(nov, raw, 100.0, tokens=tokens, battery=1.0, policy=pol)
    spent = np.where(modes == 1, 100.0, 0) + np.where(modes >= 2, raw, 0)
    spent += np.where(modes == 3, 100.0, 0)
    assert left == pytest.approx(tokens - spent.sum())
    floor = 100.0 * len(nov)
    assert spent.sum() <= max(tokens, floor) + 1e-9
    if tokens < floor:
        assert (modes == kernels.FEATURES).all()


def test_offload_anomalies_go_raw_with_budget_to_spare() -> None:
    nov, raw = _offload_inputs()
    modes, _ = kernels.decide_offload(
        nov, raw, 100.0, tokens=1e9, battery=1.0, policy=kernels.OffloadPolicy(both_fraction=0)
    )
    anomalies = nov >= kernels.OffloadPolicy().novelty_threshold
    assert (modes[anomalies] == kernels.RAW).all()
    assert (modes[~anomalies] == kernels.FEATURES).all()


def test_offload_tight_budget_prefers_highest_novelty() -> None:
    nov, _ = _offload_inputs()
    raw = np.full(nov.size, 1000.0)
    tokens = 100.0 * nov.size + 2 * 900.0  # room for exactly two upgrades
    modes, left = kernels.decide_offload(
        nov, raw, 100.0, tokens=tokens, battery=1.0, policy=kernels.OffloadPolicy(both_fraction=0)
    )
    assert set(np.flatnonzero(modes == kernels.RAW)) == {17, 3}
    assert left == pytest.approx(0.0)


def test_offload_low_battery_and_determinism() -> None:
    nov, raw = _offload_inputs()
    modes, _ = kernels.decide_offload(nov, raw, 100.0, tokens=1e9, battery=0.05)
    assert (modes == kernels.FEATURES).all()
    pol = kernels.OffloadPolicy(both_fraction=0.3)
    a = kernels.decide_offload(nov, raw, 100.0, tokens=30_000.0, battery=1.0, policy=pol, seed=9)
    b = kernels.decide_offload(nov, raw, 100.0, tokens=30_000.0, battery=1.0, policy=pol, seed=9)
    np.testing.assert_array_equal(a[0], b[0])
    assert (a[0] == kernels.BOTH).any()


def test_offload_policy_and_token_bucket_validation() -> None:
    with pytest.raises(kernels.KernelInputError):
        kernels.OffloadPolicy(both_fraction=1.5)
    with pytest.raises(kernels.KernelInputError):
        kernels.decide_offload(np.zeros(3), np.zeros(2), 1.0, tokens=1.0, battery=0.5)
    bucket = kernels.TokenBucket(rate=100.0, capacity=1000.0, level=0.0)
    assert bucket.advance(5.0) == 500.0
    assert bucket.advance(100.0) == 1000.0
    modes = bucket.decide(np.array([5.0, 0.0]), 400.0, 50.0, battery=1.0)
    assert list(modes) == [2, 1]
    assert bucket.level == pytest.approx(1000.0 - 400.0 - 50.0)


def test_novelty_scorer_flags_change_and_persists() -> None:
    rng = np.random.default_rng(2)
    xs = rng.standard_normal((60, 256)).astype(np.float32)
    xs[45] = xs[45] * 6 + 3
    scorer = kernels.NoveltyScorer(len(kernels.FEATURE_NAMES))
    feats = kernels.window_features_batch(xs, FS)
    scores = [scorer.update(f) for f in feats[:40]]
    restored = kernels.NoveltyScorer.from_state(scorer.state())
    scores += [restored.update(f) for f in feats[40:]]
    assert min(scores) >= 0.0
    assert scores[45] > 5.0
    assert np.median(scores[10:45]) < 0.1
    assert scorer.update(np.full(len(kernels.FEATURE_NAMES), np.nan)) == 0.0
    with pytest.raises(kernels.StateError):
        kernels.NoveltyScorer.from_state(np.zeros(3))
    with pytest.raises(kernels.KernelInputError):
        scorer.update(np.zeros(3))


def test_step_counter_counts_walking_and_persists() -> None:
    fs, seconds, cadence = 50.0, 60, 1.8
    acc = signals.walking_accel(int(fs * seconds), seed=4, cadence=cadence)
    counter = kernels.StepCounter(fs)
    for i in range(0, acc.shape[0] // 2, 256):
        counter.update(acc[i : min(i + 256, acc.shape[0] // 2)])
    counter = kernels.StepCounter.from_state(counter.state())
    for i in range(acc.shape[0] // 2, acc.shape[0], 256):
        counter.update(acc[i : i + 256])
    assert abs(counter.total - cadence * seconds) <= 0.05 * cadence * seconds
    noise = 0.02 * np.random.default_rng(0).standard_normal((500, 3))
    still = np.tile([0.0, 0.0, 9.81], (500, 1)) + noise
    assert kernels.StepCounter(fs).update(still) == 0


@pytest.mark.parametrize("bpm", [48.0, 72.0, 150.0])
def test_heart_rate_tracks_ppg(bpm: float) -> None:
    x = signals.ppg(50 * 20, bpm=bpm, seed=1)
    est = kernels.HeartRateEstimator(50.0)
    out = [est.update(x[i : i + 128]) for i in range(0, x.size, 128)]
    assert np.isnan(out[0])
    assert abs(out[-1] - bpm) < 2.0
    est2 = kernels.HeartRateEstimator.from_state(est.state())
    assert est2.update(x[:0]) == pytest.approx(out[-1])


_READ_ONLY_CHECK = """
import numpy as np
import kernels
from kernels import _backend
from kernels._codec import _encode
from kernels._features import features_into

assert _backend.MODE == "jit", _backend.MODE
x = np.random.default_rng(3).normal(size=96).astype(np.float32)
kernels.decode_samples(kernels.encode_samples(x))
kernels.window_features(x, 50.0)
before = (len(_encode.signatures), len(features_into.signatures))
ro = np.frombuffer(x.tobytes(), dtype=np.float32)
assert not ro.flags.writeable
assert kernels.decode_samples(kernels.encode_samples(ro)).tobytes() == x.tobytes()
assert np.array_equal(kernels.window_features(ro, 50.0), kernels.window_features(x, 50.0))
assert (len(_encode.signatures), len(features_into.signatures)) == before, "recompiled"
"""


def test_read_only_input_reuses_the_compiled_kernels() -> None:
    """np.frombuffer gives read-only arrays; Numba would compile (seconds) a separate version.
    Numba's dispatchers are the JIT backend's: checked in a JIT process whatever this one runs."""
    env = {**os.environ, "BINHAI_KERNELS": "jit"}
    done = subprocess.run(
        [sys.executable, "-c", _READ_ONLY_CHECK], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]


def _fuzz_corpus() -> list[bytes]:
    rng = np.random.default_rng(9)
    smooth = np.sin(np.arange(700) / 15).astype(np.float32)
    period = np.tile(np.float32([-0.58, -0.58, -0.58, 1.73]), 100) + np.float32(1e-3) * np.repeat(
        rng.standard_normal(100).astype(np.float32), 4
    )
    xs = [
        signals.walking_accel(200).T.ravel(),
        signals.temperature_log(600),
        smooth,
        period.astype(np.float32),
        rng.standard_normal(300).astype(np.float32),
        signals.power_readings(365),
        signals.calibrated_adc(300),
    ]
    streams = [kernels.encode_samples(x) for x in xs]
    for version in (1, 2, 3):
        g = np.load(GOLDEN.with_name(f"golden_codec_v{version}.npz"))
        streams += [g[k].tobytes() for k in g.files if k.endswith("__stream")]
    return streams


_STREAMS = _fuzz_corpus()


def _decode_or_codec_error(b: bytes) -> None:
    try:
        y = kernels.decode_samples(b, max_samples=1 << 16)
    except kernels.CodecError:
        return
    assert y.dtype == np.float32
    assert y.size <= 1 << 16


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_codec_fuzz_random_bytes(data: bytes) -> None:
    _decode_or_codec_error(data)
    # the same bytes behind a valid header of every version
    for version in (1, 2, 3, 4):
        head = bytes([0xB7, 0x5A, version, 0]) + (len(data) * 3).to_bytes(4, "little")
        _decode_or_codec_error(head + (256).to_bytes(2, "little") + data)


@settings(max_examples=400, deadline=None)
@given(
    st.integers(0, len(_STREAMS) - 1),
    st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), min_size=1, max_size=6),
    st.integers(0, 1 << 20),
)
def test_codec_fuzz_mutated_streams(which: int, edits: list[tuple[int, int]], cut: int) -> None:
    good = bytearray(_STREAMS[which])
    for where, value in edits:
        good[where % len(good)] = value
    _decode_or_codec_error(bytes(good))
    _decode_or_codec_error(bytes(good[: cut % (len(good) + 1)]))
