"""Reference-equivalence suite: every kernel against the slow references in ``reference.py``.

Also run once with ``NUMBA_DISABLE_JIT=1`` (see ``test_nojit.py``), so keep it quick in pure Python.
"""

from __future__ import annotations

import numpy as np
import pytest

import kernels
from tests.kernels import reference, signals

FS = signals.FS
_COUNTS = [kernels.FEATURE_NAMES.index(n) for n in ("peak_count",)]


def assert_features_close(got: np.ndarray, ref: np.ndarray) -> None:
    assert got.dtype == np.float32
    assert got.shape == ref.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    ok = ~np.isnan(ref)
    scale = 1.0 + np.abs(ref[ok]).max(initial=0.0)
    np.testing.assert_allclose(got[ok], ref[ok], rtol=1e-4, atol=1e-6 * scale)
    np.testing.assert_array_equal(got[_COUNTS], ref[_COUNTS])


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n", [64, 256, 257])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_features_random(seed: int, n: int, dtype: type) -> None:
    x = (np.random.default_rng(seed).standard_normal(n) * 3 + 1).astype(dtype)
    assert_features_close(kernels.window_features(x, FS), reference.features(x, FS))


@pytest.mark.parametrize("name", sorted(signals.edge_windows()))
def test_features_edge_cases(name: str) -> None:
    x = signals.edge_windows()[name]
    assert_features_close(kernels.window_features(x, FS), reference.features(x, FS))


def test_features_recorded_like() -> None:
    acc = signals.walking_accel(512)
    for axis in range(3):
        x = acc[:256, axis]
        assert_features_close(kernels.window_features(x, FS), reference.features(x, FS))
    x = signals.ppg(256)
    assert_features_close(kernels.window_features(x, FS), reference.features(x, FS))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_features_non_finite_propagates(bad: float) -> None:
    x = np.random.default_rng(1).standard_normal(32)
    x[5] = bad
    got = kernels.window_features(x, FS)
    assert np.isnan(got).all()
    assert np.isnan(kernels.window_features_batch(x[None, :], FS)).all()


def test_batch_matches_single_bitwise() -> None:
    xs = np.random.default_rng(3).standard_normal((37, 100)).astype(np.float32)
    xs[4, 7] = np.nan
    xs[5] = 2.0
    batch = kernels.window_features_batch(xs, FS)
    single = np.stack([kernels.window_features(x, FS) for x in xs])
    np.testing.assert_array_equal(batch.view(np.int32), single.view(np.int32))


@pytest.mark.parametrize(
    "x",
    [
        np.array([], dtype=np.float32),
        np.array([np.nan, -0.0, 0.0, np.inf, -np.inf, 1e-45, -1e-40, 3.4e38], dtype=np.float32),
        np.array([0x7FC00001, 0xFFC12345, 0x7F800001, 0x00000001], dtype=np.uint32).view(
            np.float32
        ),
        np.random.default_rng(0).standard_normal(1500).astype(np.float32),
        signals.temperature_log(2100),
        signals.walking_accel(300).T.ravel(),
        np.full(1030, 7.25, dtype=np.float32),
        np.arange(-600, 600, dtype=np.float32),
        np.sin(np.arange(900) / 17).astype(np.float32),  # latents, high delta orders
        np.tile(np.float32([-0.58475375, -0.58475375, 1.730991, -0.58475375, 2.5e-3]), 130),
        np.random.default_rng(1).integers(-(2**49), 2**49, 1000).astype(np.float32),  # wide
        np.random.default_rng(2)
        .integers(0, 2**32, 700, dtype=np.uint64)
        .astype(np.uint32)
        .view(np.float32),  # any bit pattern
        np.concatenate([np.full(300, -0.0), np.full(300, 1e-42)]).astype(np.float32),
    ],
    ids=[
        "empty",
        "specials",
        "nan-payloads",
        "noise",
        "decimals",
        "adc",
        "constant",
        "ints",
        "smooth",
        "periodic",
        "wide-ints",
        "random-bits",
        "signed-zero-denormal-runs",
    ],
)
def test_codec_round_trip_exact(x: np.ndarray) -> None:
    y = kernels.decode_samples(kernels.encode_samples(x))
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y.view(np.uint32), x.view(np.uint32))


def test_codec_reused_codings_stay_exact() -> None:
    """Channel-major blocks cycle through codings the encoder reuses without a search."""
    rng = np.random.default_rng(11)
    n = 256 * 6
    chans = [
        np.round(21.5 + np.cumsum(rng.standard_normal(n)) * 0.01, 2),  # 2 decimals
        np.round(45.0 + np.cumsum(rng.standard_normal(n)) * 0.05, 1),  # 1 decimal
        np.round(rng.standard_normal(n) * 900) * np.float64(np.float32(9.80665 / 16384)),  # ADC
        np.round(rng.standard_normal(n) * 5, 0),  # integers: e = 0 must win over a reused e
    ]
    x = np.concatenate(
        [c[i : i + 256] for i in range(0, n, 256) for c in chans]  # [ch0 blk0, ch1 blk0, ...]
    ).astype(np.float32)
    x[256 * 5 + 3] = np.nan  # a reused coding misses a value: exception (or a new search)
    x[256 * 9 + 200] = -0.0
    x[256 * 13 : 256 * 14] += np.float32(1e-4)  # a block the cached decimal coding no longer fits
    b = kernels.encode_samples(x)
    np.testing.assert_array_equal(kernels.decode_samples(b).view(np.uint32), x.view(np.uint32))
    assert len(b) < 0.5 * x.nbytes


def test_codec_lossy_within_half_resolution() -> None:
    x = signals.walking_accel(400)[:, 2].copy()
    x[3] = np.nan
    res = 0.05
    y = kernels.decode_samples(kernels.encode_samples(x, resolution=res))
    assert np.isnan(y[3])
    ok = ~np.isnan(x)
    assert np.abs(y[ok].astype(np.float64) - x[ok]).max() <= res / 2


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("tokens", [0.0, 5_000.0, 40_000.0, 1e9])
def test_offload_matches_reference(seed: int, tokens: float) -> None:
    rng = np.random.default_rng(seed)
    m = 40
    nov = rng.exponential(0.5, m)
    nov[rng.integers(0, m, 3)] = np.nan
    raw = rng.integers(500, 3000, m).astype(np.float64)
    feat = np.full(m, 120.0)
    pol = kernels.OffloadPolicy(both_fraction=0.1, explore_fraction=0.05)
    modes, left = kernels.decide_offload(
        nov, raw, feat, tokens=tokens, battery=0.8, policy=pol, seed=seed
    )
    ref_modes, ref_left = reference.offload(nov, raw, feat, tokens, 0.8, pol, seed)
    np.testing.assert_array_equal(modes, ref_modes)
    assert left == pytest.approx(ref_left)


def test_novelty_matches_reference() -> None:
    rng = np.random.default_rng(0)
    feats = rng.standard_normal((40, 6))
    feats[25] += 8.0
    feats[30, 2] = np.nan
    feats[31] = np.nan
    scorer = kernels.NoveltyScorer(6, alpha=0.1, warmup=5)
    got = [scorer.update(f) for f in feats]
    np.testing.assert_allclose(got, reference.novelty_scores(feats, 0.1, 5), rtol=1e-9, atol=1e-12)


def _sine(n: int, period: float, amplitude: float, phase: float = 0.3) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * np.arange(n) / period + phase)).astype(np.float32)


def _with(x: np.ndarray, at: dict[int, float | int]) -> np.ndarray:
    """``x`` with values (floats) or bit patterns (ints) put at some indices."""
    x = x.copy()
    for i, val in at.items():
        if isinstance(val, int):
            x.view(np.uint32)[i] = val
        else:
            x[i] = val
    return x


_CODEC_CASES = {
    "smooth": np.sin(np.arange(700) / 13).astype(np.float32),
    "accel": signals.walking_accel(300).T.ravel(),
    "decimals": signals.temperature_log(600),
    "periodic": np.tile(np.float32([-0.58, -0.58, 1.73, -0.58, 2.5e-3]), 80),
    "wide": np.random.default_rng(4).integers(-(2**49), 2**49, 300).astype(np.float32),
    "specials": np.array([np.nan, -0.0, 0.0, np.inf, -np.inf, 1e-45, 3.4e38, 0.5] * 40, "f4"),
    "three_sines": np.concatenate([_sine(256, p, 1.0) for p in (333.3, 200.0, 142.9)]),
}
#: Cases the linear predictor (transforms 9-12) must code: sines of several periods and
#: amplitudes, and special values inside a predicted block.
_PRED_CASES = {
    "sine_slow": _sine(256, 400.0, 1.0),
    "sine_fast": _sine(300, 7.3, 3.7),
    "sine_tiny": _sine(256, 50.0, 1e-30),
    "sine_huge": _sine(256, 50.0, 3e37),
    "sine_denormal": _sine(256, 64.0, 1e-38),
    "sine_long": _sine(2000, 91.0, 250.0),
    # specials at zero crossings, where the fit's stand-in (0) hardly disturbs it
    "sine_inf": _with(_sine(256, 40.0, 2.0, 0.0), {100: np.inf, 180: -np.inf}),
    "sine_nan_payloads": _with(_sine(256, 40.0, 2.0, 0.0), {60: 0x7FC00001, 200: 0xFFC12345}),
    "sine_zeros": _with(_sine(256, 40.0, 2.0, 0.0), {0: -0.0, 20: 0.0, 140: -0.0}),
    "sine_plus_1": _sine(257, 40.0, 2.0),
    "sine_plus_2": _sine(258, 40.0, 2.0),
    "sine_plus_3": _sine(259, 40.0, 2.0),
}
_SHORT_CASES = {f"sine_{n}": _sine(n, 40.0, 2.0) for n in (1, 2, 3, 13, 14)}
#: Cases an affine grid (source 3, version 4) must code: its integers and its fixes, special
#: values (NaN payloads, ±inf, ±0, denormals) as fixes, several blocks, a short last block; a
#: long stream on one grid (the last block's grid reused, the others not ranked), special values
#: in such a block, and streams whose grid changes (a new fit after the reused grid fails).
_AFFINE_CASES = {
    "power": signals.power_readings(365),
    "power_blocks": signals.power_readings(1100, seed=3),
    "power_long": signals.power_readings(4000, seed=5),
    "power_long_specials": _with(
        signals.power_readings(2000, seed=6),
        {1300: 0x7FC00001, 1301: np.inf, 1500: -0.0, 1700: -np.inf, 1900: 0xFFC12345},
    ),
    "power_then_adc": np.concatenate(
        [signals.power_readings(900, seed=7), signals.calibrated_adc(900)]
    ),
    "two_recordings": np.concatenate(
        [signals.power_readings(1000, seed=8), signals.power_readings(1000, seed=9) * 3]
    ),
    "calibrated": signals.calibrated_adc(700),
    "calibrated_257": signals.calibrated_adc(257),
    "calibrated_specials": _with(
        signals.calibrated_adc(300),
        {7: 0x7FC00001, 50: 0xFFC12345, 90: np.inf, 91: -np.inf, 120: -0.0, 121: 0.0, 200: 1e-40},
    ),
}


_ALL_CASES = {**_CODEC_CASES, **_PRED_CASES, **_SHORT_CASES, **_AFFINE_CASES}


@pytest.mark.parametrize("x", list(_ALL_CASES.values()), ids=list(_ALL_CASES))
def test_codec_matches_reference_decoder(x: np.ndarray) -> None:
    """The stream means what docs/kernels.md says: a literal decoder reads the same bits."""
    b = kernels.encode_samples(x)
    assert b[2] == 4
    np.testing.assert_array_equal(reference.decode(b).view(np.uint32), x.view(np.uint32))
    np.testing.assert_array_equal(kernels.decode_samples(b).view(np.uint32), x.view(np.uint32))


@pytest.mark.parametrize("name", list(_PRED_CASES))
def test_codec_predicts_smooth_blocks(name: str) -> None:
    """Sines go to the linear predictor, special values inside them included."""
    seen: list[tuple[int, int]] = []
    reference.decode(kernels.encode_samples(_PRED_CASES[name]), seen)
    assert any(9 <= tr <= 12 for _, tr in seen), seen


@pytest.mark.parametrize("name", list(_AFFINE_CASES))
def test_codec_codes_affine_grids(name: str) -> None:
    """Offset-and-scaled readings go to an affine grid, special values inside them included."""
    seen: list[tuple[int, int]] = []
    reference.decode(kernels.encode_samples(_AFFINE_CASES[name]), seen)
    assert any(src == 3 for src, _ in seen), seen


def test_codec_keeps_a_long_stream_on_its_grid() -> None:
    """Every block of a long stream on one grid is coded on it (the last block's grid reused,
    the latents not ranked while it wins by far), and no larger than each window alone."""
    x = signals.power_readings(256 * 24, seed=5)
    seen: list[tuple[int, int]] = []
    b = kernels.encode_samples(x)
    np.testing.assert_array_equal(reference.decode(b, seen).view(np.uint32), x.view(np.uint32))
    assert [src for src, _ in seen] == [3] * 24
    alone = sum(len(kernels.encode_samples(x[i : i + 256])) for i in range(0, x.size, 256))
    assert len(b) <= alone


def test_codec_codes_a_machines_vibration_on_its_grid() -> None:
    """The simulator's machine vibration (a ±16 g 16-bit accelerometer: an integer scale that
    float32 rounding breaks on some values) goes to the affine grid, which codes every value;
    the faster version-4 encoder once tried the grid only where the latents won, and coded
    these windows 16 % larger."""
    from dataclasses import replace

    from firmware_sim import build_fleet, load_scenario

    scenario = replace(load_scenario("mixed"), seed=7)
    machine = next(d for d in build_fleet(scenario) if d.kind == "machine")
    for _ in range(10):
        x = np.ascontiguousarray(machine.take("vib", 256).T).ravel()
        seen: list[tuple[int, int]] = []
        b = kernels.encode_samples(x)
        np.testing.assert_array_equal(reference.decode(b, seen).view(np.uint32), x.view(np.uint32))
        assert [src for src, _ in seen] == [3], seen


@pytest.mark.parametrize(
    ("x", "most"),
    [(signals.power_readings(365), 1.45), (signals.calibrated_adc(700), 0.7)],
    ids=["power", "calibrated"],
)
def test_codec_affine_grid_beats_version_3(x: np.ndarray, most: float) -> None:
    """Bytes a sample an affine grid reaches where version 3 could not (its latents and
    decimals: 2.16 and 2.09), bit-exact."""
    b = kernels.encode_samples(x)
    assert len(b) / x.size < most
    np.testing.assert_array_equal(kernels.decode_samples(b).view(np.uint32), x.view(np.uint32))
