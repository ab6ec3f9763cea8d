"""Which kernels are compiled ahead of time, and for which argument types.

Read by the build (:mod:`kernels._aot_build`, at install time) and by the runtime dispatch
(:mod:`kernels._backend`); plain data, no Numba. An entry is a kernel called from Python by a
typed wrapper; the kernels it calls are compiled into it. The argument types are exactly those
the wrappers hand over (they normalise dtypes, contiguity and scalar types), so the AOT build
covers every call the public API makes. A test (``tests/kernels/test_aot.py``) runs the golden
vectors and the reference suite through both paths and compares the bytes.

Type tokens: ``f8`` ``i8`` ``u8`` ``b1`` are scalars (float64, int64, uint64, bool);
``f4:1`` is a C-contiguous float32 array with one dimension; a trailing ``r`` marks a
read-only array (the JIT types those separately, so the AOT build does too).

``parallel`` kernels (``prange`` over windows) are not compiled ahead of time: with the AOT
backend they run as Python loops over their compiled inner kernel, which gives the same bytes.
"""

from __future__ import annotations

_F = ("f4", "f8")


def _both(template: str) -> list[str]:
    """``template`` with ``{f}`` as float32 and as float64."""
    return [template.format(f=f) for f in _F]


#: ``(module, kernel) -> [argument tokens, space separated]``.
ENTRIES: dict[tuple[str, str], list[str]] = {
    ("_features", "features_into"): _both("{f}:1 f8 f8:1r i8:1 f4:1"),
    ("_codec", "_encode"): ["f4:1 f8 i8 u1:1"],
    ("_codec", "_decode_v1"): ["u1:1r i8 i8 i8 f4:1"],
    ("_codec", "_decode_v2"): ["u1:1r i8 i8 i8 f4:1"],
    ("_points", "_sod_keep"): _both("{f}:1 f8 b1:1"),
    ("_points", "_sd_keep"): _both("{f}:1 f8 b1:1"),
    ("_points", "_fill"): ["i8:1 f4:1 b1 f4:1"],
    ("_offload", "offload_kernel"): ["f8:1 f8:1 f8:1 f8 f8 f8 f8 f8 f8 u8 i1:1"],
    ("_novelty", "novelty_update"): _both("{f}:1 f8:1 f8:1 i8 f8 i8 f8 f8"),
    ("_detectors", "step_kernel"): _both("{f}:2 f8 f8 f8 f8:1"),
    ("_detectors", "hr_kernel"): _both("{f}:1 f8 f8:1 f8:1 f8 f8 i8"),
    ("_screen", "window_stats"): _both("{f}:2 f8:1 f8:1"),
    ("_screen", "screen_kernel"): _both("{f}:2 f8:1 f8:1 f8:1 f8:2 i8 i8 f8 f8:1"),
    ("_screen", "power_spectrum"): _both("{f}:2 f8:1r f8:2"),
    ("_screen", "new_line_ratio"): ["f8:2 f8:2"],
    ("_screen", "axes_ratio"): ["f8:2 f8:2 f8:1"],
    ("_screen", "learn_bins"): ["f8:2 f8:2 f8 f8"],
}


def export_name(module: str, kernel: str, i: int) -> str:
    """The symbol of the ``i``-th signature of a kernel in the extension module."""
    return f"{module.lstrip('_')}__{kernel.lstrip('_')}__{i}"


def runtime_key(tokens: str) -> tuple[str, ...]:
    """The dispatch key of a signature: its tokens, read-only marks dropped (a writable array
    is accepted where the kernel only reads)."""
    return tuple(t.rstrip("r") for t in tokens.split())


__all__ = ["ENTRIES", "export_name", "runtime_key"]
