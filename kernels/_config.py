"""The one place where Numba compile options are chosen.

Every ``@njit`` in :mod:`kernels` takes its options from here, never inline.

* ``cache=True`` everywhere: a device must not recompile on every boot.
* ``fastmath`` is a *set of safe flags*: reassociation, contraction (FMA), reciprocal and
  approximate functions, no signed zeros. ``nnan`` and ``ninf`` are never set, because the kernels
  must see and handle NaN and ±inf in sensor data.
* ``error_model="numpy"``: a division by zero yields inf/NaN instead of raising inside a kernel.
* ``JIT_EXACT`` (no fastmath at all) is used where results must be bit-reproducible between two
  different compiled functions: the codec (the encoder verifies each value with the decoder's own
  arithmetic) and the offload decision.
"""

from __future__ import annotations

from typing import Any

#: Fast-math flags that keep IEEE NaN / inf semantics (no ``nnan``, no ``ninf``).
FASTMATH_FLAGS: frozenset[str] = frozenset({"nsz", "arcp", "contract", "afn", "reassoc"})

#: Serial numeric kernels (features, detectors).
JIT: dict[str, Any] = {
    "cache": True,
    "nogil": True,
    "fastmath": set(FASTMATH_FLAGS),
    "error_model": "numpy",
}

#: Kernels parallel over windows with ``prange``.
JIT_PARALLEL: dict[str, Any] = {**JIT, "parallel": True}

#: Bit-exact kernels (codec, offload decision): strict IEEE arithmetic.
JIT_EXACT: dict[str, Any] = {"cache": True, "nogil": True, "error_model": "numpy"}

#: Small bit-exact helpers (a few lines, called from compiled code only): inlined into each
#: caller at Numba IR level. Every separately compiled function costs a full compile (typing,
#: LLVM, a Python wrapper, a cache file), once per distinct argument type — literal constants
#: included — and its code is re-optimised inside every caller. Inlining *everything* is not
#: better: one huge function compiles slower than a few mid-sized ones.
JIT_EXACT_INLINE: dict[str, Any] = {**JIT_EXACT, "inline": "always"}

#: Bit-exact kernels called only from other compiled kernels: no Python/C wrappers to build.
JIT_EXACT_INNER: dict[str, Any] = {
    **JIT_EXACT,
    "no_cpython_wrapper": True,
    "no_cfunc_wrapper": True,
}

__all__ = [
    "FASTMATH_FLAGS",
    "JIT",
    "JIT_EXACT",
    "JIT_EXACT_INLINE",
    "JIT_EXACT_INNER",
    "JIT_PARALLEL",
]
