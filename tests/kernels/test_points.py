"""Point compression (send-on-delta, swinging door) against slow references; hostile streams."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kernels
from tests.kernels import reference_points as ref


def _signal(seed: int, n: int = 256) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    x = 3 * np.sin(t / 9.0) + rng.normal(0, 0.3, n) + np.cumsum(rng.normal(0, 0.05, n))
    return x.astype(np.float32)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("e", [0.0, 0.05, 0.5, 2.0])
def test_selection_matches_the_references(seed: int, e: float) -> None:
    x = _signal(seed)
    assert kernels.select_points(x, e, kernels.HOLD).tolist() == ref.sod_keep(x, e)
    assert kernels.select_points(x, e, kernels.LINEAR).tolist() == ref.sd_keep(x, e)


@pytest.mark.parametrize("seed", range(4))
def test_rebuild_matches_the_reference_and_bounds_the_error(seed: int) -> None:
    x = _signal(seed)
    for mode, linear in ((kernels.HOLD, False), (kernels.LINEAR, True)):
        idx = kernels.select_points(x, 0.4, mode)
        got = kernels.rebuild(idx, x[idx], x.size, mode)
        np.testing.assert_allclose(
            got, ref.rebuild(idx.tolist(), x[idx], x.size, linear), rtol=1e-6
        )
        err = np.abs(got.astype(np.float64) - x)
        # send-on-delta holds within E exactly; the swinging door keeps its line near E
        assert err.max() <= (0.4 + 1e-6 if not linear else 0.8)


def test_round_trip_keeps_dropouts_and_saves_bytes() -> None:
    x = np.stack([_signal(1), _signal(2)])
    x[0, 40:60] = np.nan
    for codec, mode in (
        (kernels.CODEC_POINTS_HOLD, kernels.HOLD),
        (kernels.CODEC_POINTS_LINEAR, kernels.LINEAR),
    ):
        data = kernels.encode_points(x, np.array([0.5, 0.5]), mode)
        y = kernels.decode_window(codec, data, 2, 256)
        assert np.isnan(y[0, 40:60]).all() and np.isfinite(y[0, :40]).all()
        assert np.isfinite(y[1]).all()
        assert len(data) < len(kernels.encode_samples(x.ravel())) / 2
    # E = 0 keeps every distinct step: exact
    exact = kernels.decode_window(3, kernels.encode_points(x, 0.0, kernels.HOLD), 2, 256)
    np.testing.assert_array_equal(np.isnan(exact), np.isnan(x))
    np.testing.assert_array_equal(exact[np.isfinite(x)], x[np.isfinite(x)])


def test_decode_window_checks_shapes_and_codecs() -> None:
    x = _signal(3)[None, :]
    data = kernels.encode_points(x, 0.1, kernels.HOLD)
    with pytest.raises(kernels.CodecError, match="window says"):
        kernels.decode_window(3, data, 1, 255)
    with pytest.raises(kernels.CodecError, match="unknown raw codec"):
        kernels.decode_window(9, data, 1, 256)
    with pytest.raises(kernels.CodecError, match="out of bounds"):
        kernels.decode_window(3, data, 64, 1 << 20)
    with pytest.raises(kernels.CodecError, match="float32"):
        kernels.decode_window(1, b"abc", 1, 1)
    lossless = kernels.encode_samples(x.ravel())
    np.testing.assert_array_equal(kernels.decode_window(2, lossless, 1, 256), x)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.integers(1, 4), st.integers(1, 600))
def test_hostile_point_streams_raise_codec_error(data: bytes, channels: int, n: int) -> None:
    for codec in (kernels.CODEC_POINTS_HOLD, kernels.CODEC_POINTS_LINEAR):
        try:
            out = kernels.decode_window(codec, data, channels, n)
        except kernels.CodecError:
            continue
        assert out.shape == (channels, n)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 299))
def test_mutated_point_streams_raise_codec_error_or_decode(seed: int, at: int) -> None:
    x = _signal(seed % 7)[None, :]
    data = bytearray(kernels.encode_points(x, 0.2, kernels.LINEAR))
    data[at % len(data)] ^= 1 + seed % 255
    try:
        out = kernels.decode_window(kernels.CODEC_POINTS_LINEAR, bytes(data), 1, 256)
    except kernels.CodecError:
        return
    assert out.shape == (1, 256)
