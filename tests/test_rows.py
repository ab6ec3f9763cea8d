"""Staging's reading of feature values from the wire, against the repeated field itself."""

from __future__ import annotations

import numpy as np
import pytest

import protos
from cloud_core._rows import _float_values


@pytest.mark.parametrize("algo", [0, 1, 127, 128, 300, 2**32 - 1])
@pytest.mark.parametrize("n", [0, 1, 31, 32, 93, 5000])
def test_feature_values_are_the_repeated_field_as_float32_bytes(algo: int, n: int) -> None:
    values = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    values[: n // 3] = np.array([np.nan, -0.0, np.inf], dtype=np.float32)[np.arange(n // 3) % 3]
    f = protos.Features(algo_version=algo, values=values.tolist())
    want = np.array(f.values, dtype="<f4").tobytes()
    assert _float_values(f) == want
    assert _float_values(f) == want  # again, with the head remembered


def test_feature_values_with_fields_this_core_does_not_know() -> None:
    """A newer device's Features (an unknown field after the values) still read right."""
    f = protos.Features(algo_version=3, values=[1.5, -2.0, 3.25])
    extra = f.SerializeToString() + b"\x18\x05"  # field 3, varint 5
    g = protos.Features.FromString(extra)
    assert g.SerializeToString() == extra
    assert _float_values(g) == np.array([1.5, -2.0, 3.25], dtype="<f4").tobytes()
