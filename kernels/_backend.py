"""How the kernels run: compiled by Numba at run time (JIT), or ahead of time (AOT).

Every kernel module takes ``njit`` and ``prange`` from here instead of from Numba. The backend is
chosen once, when :mod:`kernels` is first imported, from ``BINHAI_KERNELS``:

``jit``
    Numba compiles the kernels (cached in ``__pycache__`` or ``NUMBA_CACHE_DIR``). What the cloud
    and development use; the only backend with ``parallel`` kernels.
``aot``
    The extension module ``kernels._aot``, compiled from the same kernel sources by Numba's
    ``pycc`` when the package is built or installed (``setup.py``). Numba and LLVM are never
    imported: this is what lets a device run in well under half the memory. A kernel gets an
    :class:`AotKernel` that picks the compiled function for the argument types;
    kernels that are not compiled ahead of time (the ``parallel`` batch, inner helpers) stay
    plain Python functions (``prange`` is ``range``) calling the compiled ones. Importing fails
    if the module is missing or stale.
``auto`` (default)
    ``aot`` when the module is there and was built from these sources, with this Numba, on this
    CPU (its fingerprint matches); otherwise ``jit``, with one log line saying why. Also ``jit``
    when ``NUMBA_DISABLE_JIT`` is set (the pure-Python reference run).

The module is built for the CPU it is built on (like the JIT), so that fast-math kernels give the
same bits on both paths; a module carried to another CPU model is stale and not used.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import logging
import os
import platform
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from kernels import _aot_spec
from kernels._errors import KernelError

logger = logging.getLogger(__name__)

#: The environment variable that chooses the backend.
ENV = "BINHAI_KERNELS"
_MODES = ("auto", "jit", "aot")
_HERE = Path(__file__).resolve().parent


def fingerprint() -> int:
    """What an AOT module must have been built from to be used here: the kernel sources, the
    Numba and llvmlite versions and the CPU model and flags (a 60-bit integer)."""
    h = hashlib.sha256()
    for path in sorted(_HERE.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    for dist in ("numba", "llvmlite"):
        try:
            h.update(f"{dist}={importlib.metadata.version(dist)}".encode())
        except importlib.metadata.PackageNotFoundError:
            h.update(f"{dist}=none".encode())
    h.update(platform.machine().encode())
    h.update(_cpu_description().encode())
    return int(h.hexdigest()[:15], 16)


def _cpu_description() -> str:
    """Model name and ISA flags of the first CPU (Linux; empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return ""
    keep: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            break  # first processor only
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("model name", "flags", "Features", "CPU implementer", "CPU part"):
            keep[key] = value.strip()
    return "|".join(f"{k}={v}" for k, v in sorted(keep.items()))


def _load_aot() -> tuple[ModuleType | None, str]:
    """The AOT module if it is usable here, else ``None`` and the reason."""
    if importlib.util.find_spec("kernels._aot") is None:
        return None, "the ahead-of-time kernels are not built (no kernels/_aot extension module)"
    try:
        _aot = importlib.import_module("kernels._aot")
    except ImportError as exc:
        return None, f"the ahead-of-time kernels cannot be loaded ({exc})"
    if _aot.aot_fingerprint() != fingerprint():
        return None, (
            "the ahead-of-time kernels were built from other sources, Numba or CPU "
            "(reinstall the package to rebuild them)"
        )
    return _aot, ""


def _choose() -> tuple[str, ModuleType | None]:
    want = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if want not in _MODES:
        raise ImportError(f"{ENV} must be one of {', '.join(_MODES)}, not {want!r}")
    if want == "jit" or (want == "auto" and os.environ.get("NUMBA_DISABLE_JIT", "0") != "0"):
        return "jit", None
    module, reason = _load_aot()
    if module is not None:
        return "aot", module
    if want == "aot":
        raise ImportError(f"{ENV}=aot: {reason}")
    logger.warning("kernels: %s; compiling them with Numba at run time", reason)
    return "jit", None


MODE, _AOT = _choose()

# ---------------------------------------------------------------------------------------------
# AOT dispatch

_SCALARS: dict[type, str] = {
    float: "f8",
    int: "i8",
    bool: "b1",
    np.float64: "f8",
    np.int64: "i8",
    np.uint64: "u8",
    np.bool_: "b1",
}
_ARRAYS: dict[tuple[np.dtype[Any], int], str] = {}


def _token(a: object) -> str:
    """The spec token of one argument (``"?"`` for anything the AOT build has no type for)."""
    if isinstance(a, np.ndarray):
        if not a.flags.c_contiguous or not a.dtype.isnative:
            return "?"
        key = (a.dtype, a.ndim)
        tok = _ARRAYS.get(key)
        if tok is None:
            tok = _ARRAYS[key] = f"{a.dtype.kind}{a.dtype.itemsize}:{a.ndim}"
        return tok
    return _SCALARS.get(type(a), "?")


class AotKernel:
    """A kernel compiled ahead of time: calls the compiled function for the argument types.

    The extension module's functions check only the item size of an array, so the types are
    checked here; a call the build has no signature for raises :class:`KernelError` (a wrapper
    handing over a type it does not normalise: a bug, caught by the conformance test).
    """

    __slots__ = ("__name__", "__wrapped__", "_table", "py_func")

    def __init__(self, py_func: Callable[..., Any], table: dict[tuple[str, ...], Any]) -> None:
        self.py_func = py_func
        self.__name__ = py_func.__name__
        self.__wrapped__ = py_func
        self._table = table

    def __call__(self, *args: Any) -> Any:
        fn = self._table.get(tuple(map(_token, args)))
        if fn is None:
            raise KernelError(
                f"{self.__name__}: no ahead-of-time build for arguments "
                f"({', '.join(map(_token, args))}); {ENV}=jit compiles it at run time"
            )
        return fn(*args)

    def __repr__(self) -> str:
        return f"<AotKernel {self.py_func.__module__}.{self.__name__} ({len(self._table)} types)>"


def _aot_table(module: str, name: str) -> dict[tuple[str, ...], Any] | None:
    sigs = _aot_spec.ENTRIES.get((module, name))
    if sigs is None or _AOT is None:
        return None
    return {
        _aot_spec.runtime_key(tokens): getattr(_AOT, _aot_spec.export_name(module, name, i))
        for i, tokens in enumerate(sigs)
    }


def _aot_njit(**_options: Any) -> Callable[[Callable[..., Any]], Any]:
    def decorate(fn: Callable[..., Any]) -> Any:
        table = _aot_table(fn.__module__.rpartition(".")[2], fn.__name__)
        return fn if table is None else AotKernel(fn, table)

    return decorate


def _aot_prange(*args: int) -> Iterable[int]:
    return range(*args)


njit: Callable[..., Any]
prange: Callable[..., Iterable[int]]
if MODE == "aot":
    njit, prange = _aot_njit, _aot_prange
else:
    import numba

    njit, prange = numba.njit, numba.prange


def compiled_in_python() -> bool:
    """Whether the ``@njit`` functions are plain Python here (AOT backend, or
    ``NUMBA_DISABLE_JIT``): intrinsics then need pure-Python stand-ins."""
    if MODE == "aot":
        return True
    from numba import config

    return bool(getattr(config, "DISABLE_JIT", 0))


__all__ = ["ENV", "MODE", "AotKernel", "compiled_in_python", "fingerprint", "njit", "prange"]
