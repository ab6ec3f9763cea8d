"""How the kernels run: compiled by Numba at run time (JIT), or ahead of time (AOT).

Every kernel module takes ``njit`` and ``prange`` from here instead of from Numba. The backend is
chosen once, when :mod:`kernels` is first imported, from ``BINHAI_KERNELS``:

``jit``
    Numba compiles the kernels (cached in ``__pycache__`` or ``NUMBA_CACHE_DIR``). What the cloud
    and development use; the only backend with ``parallel`` kernels.
``aot``
    The extension module ``kernels._aot``, compiled from the same kernel sources by Numba's
    ``pycc`` when the package is built or installed (``setup.py``). Numba and LLVM are never
    imported: this is what lets a device run in well under half the memory. A kernel becomes
    a function that calls the compiled one for the argument types (:func:`aot_kernel`);
    kernels that are not compiled ahead of time (the ``parallel`` batch, inner helpers) stay
    plain Python functions (``prange`` is ``range``) calling the compiled ones. Importing fails
    if the module is missing or stale.
``auto`` (default)
    ``aot`` when the module is there and was built from these sources, with this Numba, on this
    CPU (its fingerprint matches); otherwise ``jit``, with one log line saying why. Also ``jit``
    when ``NUMBA_DISABLE_JIT`` is set (the pure-Python reference run).

The module is built for the CPU it is built on (like the JIT), so that fast-math kernels give the
same bits on both paths; a module carried to another CPU model is stale and not used.

This is the one environment variable a library package reads (elsewhere only the CLI does): like
Numba's own ``NUMBA_*`` settings, the backend must be known before the first kernel is defined,
that is at import, before any caller could pass an argument.
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

#: Python types accepted for a scalar token (what the JIT types as that Numba type).
_SCALARS: dict[str, tuple[type, ...]] = {
    "f8": (float, np.float64),
    "i8": (int, np.int64),
    "u8": (np.uint64,),
    "b1": (bool, np.bool_),
}
#: Array dtypes by token prefix (native byte order).
_DTYPES: dict[str, np.dtype[Any]] = {t: np.dtype(t) for t in ("f4", "f8", "i1", "i8", "u1")} | {
    "b1": np.dtype(np.bool_)
}


def _token(a: object) -> str:
    """A readable name of an argument's type, for the error message of a call with no build."""
    if isinstance(a, np.ndarray):
        layout = "" if a.flags.c_contiguous else " not C-contiguous"
        return f"{a.dtype.str}:{a.ndim}{layout}"
    return type(a).__name__


def _condition(j: int, i: int, token: str, scope: dict[str, Any]) -> str:
    """Python source of the test that argument ``a{i}`` matches ``token`` (signature ``j``)."""
    name = f"t{j}_{i}"
    if ":" in token:
        dtype, _, ndim = token.partition(":")
        scope[name] = _DTYPES[dtype]
        dt = f"(a{i}.dtype is {name} or a{i}.dtype == {name})"  # `is`: the usual, fast case
        return f"type(a{i}) is nd and {dt} and a{i}.ndim == {int(ndim)} and a{i}.flags.c_contiguous"
    scope[name] = _SCALARS[token]
    return f"type(a{i}) in {name}"


def aot_kernel(py_func: Callable[..., Any], compiled: list[tuple[str, Any]]) -> Any:
    """A kernel compiled ahead of time: a function calling the compiled one for the argument
    types, ``compiled`` being ``(spec tokens, function)`` pairs.

    The extension module's functions check only the item size of an array, never its dtype,
    dimensions or layout, so the types are checked here, in generated code (one comparison per
    argument: dispatch costs ~1 us, like Numba's). A call the build has no signature for raises
    :class:`KernelError` (a wrapper handing over a type it does not normalise: a bug the
    conformance test catches).
    """
    nargs = len(compiled[0][0].split())
    args = ", ".join(f"a{i}" for i in range(nargs))
    scope: dict[str, Any] = {"nd": np.ndarray, "miss": _miss(py_func.__name__)}
    lines = [f"def {py_func.__name__}({args}):"]
    for j, (tokens, fn) in enumerate(compiled):
        scope[f"f{j}"] = fn
        keys = _aot_spec.runtime_key(tokens)
        test = " and ".join(_condition(j, i, t, scope) for i, t in enumerate(keys))
        lines.append(f"    if {test}:\n        return f{j}({args})")
    lines.append(f"    return miss({args})")
    exec("\n".join(lines), scope)
    call = scope[py_func.__name__]
    call.__doc__ = py_func.__doc__
    call.__module__ = py_func.__module__
    call.__qualname__ = py_func.__qualname__
    call.__wrapped__ = py_func  # the kernel's source, as Numba's dispatchers have it
    call.py_func = py_func
    call.aot_signatures = [tokens for tokens, _ in compiled]
    return call


def _miss(name: str) -> Callable[..., Any]:
    def miss(*args: Any) -> Any:
        raise KernelError(
            f"{name}: no ahead-of-time build for arguments ({', '.join(map(_token, args))}); "
            f"{ENV}=jit compiles it at run time"
        )

    return miss


def _aot_njit(**_options: Any) -> Callable[[Callable[..., Any]], Any]:
    def decorate(fn: Callable[..., Any]) -> Any:
        module = fn.__module__.rpartition(".")[2]
        sigs = _aot_spec.ENTRIES.get((module, fn.__name__))
        if sigs is None or _AOT is None:
            return fn  # not compiled ahead of time: plain Python calling compiled kernels
        compiled = [
            (tokens, getattr(_AOT, _aot_spec.export_name(module, fn.__name__, i)))
            for i, tokens in enumerate(sigs)
        ]
        return aot_kernel(fn, compiled)

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


__all__ = ["ENV", "MODE", "aot_kernel", "compiled_in_python", "fingerprint", "njit", "prange"]
