"""Input checks shared by the typed wrappers (plain Python, never compiled)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from kernels._errors import KernelInputError

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def as_float_array(x: Any, name: str, ndim: int) -> np.ndarray:
    """Return ``x`` as a C-contiguous float32/float64 array with ``ndim`` dimensions.

    Float32 and float64 arrays are used as they are (made contiguous if needed); anything else
    (ints, lists, complex, object arrays) is rejected rather than silently converted, because a
    silent conversion on a device is a silent slowdown or a silent loss of precision. Read-only
    arrays (``np.frombuffer``, memory maps) are copied: Numba compiles a separate, slow-to-build
    specialisation for read-only arrays, which would stall the first such call for seconds.
    """
    if not isinstance(x, np.ndarray):
        raise KernelInputError(name, f"expected a numpy array, got {type(x).__name__}")
    if x.dtype not in _FLOATS:
        raise KernelInputError(name, f"expected dtype float32 or float64, got {x.dtype}")
    if x.ndim != ndim:
        raise KernelInputError(name, f"expected a {ndim}-D array, got shape {x.shape}")
    a = np.ascontiguousarray(x)
    return a if a.flags.writeable else a.copy()


def check_fs(fs: Any) -> float:
    """Return ``fs`` (sample rate, Hz) as a float after checking that it is finite and > 0."""
    try:
        value = float(fs)
    except (TypeError, ValueError):
        raise KernelInputError("fs", f"expected a number, got {fs!r}") from None
    if not math.isfinite(value) or value <= 0.0:
        raise KernelInputError("fs", f"must be finite and > 0, got {fs!r}")
    return value


def check_nonempty(x: np.ndarray, name: str) -> None:
    """Reject windows with no samples."""
    if x.shape[-1] == 0:
        raise KernelInputError(name, "window has no samples")
