"""Build ``kernels._aot``: the kernels of :data:`kernels._aot_spec.ENTRIES`, compiled ahead of time.

Run by ``setup.py`` (``build_ext``) when the package is built or installed, or by hand::

    python -m kernels._aot_build [OUTPUT]    # default: next to this file

Each exported function is a one-line trampoline calling the kernel's Numba dispatcher, so the
kernel itself is compiled with its own options from :mod:`kernels._config` (fast-math flags,
``error_model``), exactly as the JIT compiles it, and linked into the module with everything it
calls, as the JIT's optimised IR, untouched. The module is compiled for this machine's CPU, with
the same CPU features the JIT uses (:func:`_configure_codegen`), so that the fast-math kernels
give the same bits on both paths. It also exports ``aot_fingerprint()``, compared at
import with :func:`kernels._backend.fingerprint` to leave a stale module unused.

This module imports Numba; nothing imports it at run time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_CHILD = "_BINHAI_AOT_BUILD"
_SCALAR_TYPES = {"f8": "float64", "i8": "int64", "u8": "uint64", "b1": "boolean"}
_DTYPES = {
    "f4": "float32",
    "f8": "float64",
    "i1": "int8",
    "i8": "int64",
    "u1": "uint8",
    "b1": "boolean",
}


def _numba_type(token: str) -> Any:
    from numba import types

    if ":" not in token:
        return getattr(types, _SCALAR_TYPES[token])
    dtype, _, rest = token.partition(":")
    readonly = rest.endswith("r")
    ndim = int(rest.rstrip("r"))
    return types.Array(getattr(types, _DTYPES[dtype]), ndim, "C", readonly=readonly)


def _trampoline(dispatcher: Any, nargs: int) -> Any:
    """``def f(a0, ..., an): return dispatcher(a0, ..., an)``, for ``cc.export``."""
    args = ", ".join(f"a{i}" for i in range(nargs))
    scope: dict[str, Any] = {"kernel": dispatcher}
    exec(f"def trampoline({args}):\n    return kernel({args})\n", scope)
    return scope["trampoline"]


def _configure_codegen() -> None:
    """Make pycc emit the JIT's machine code (see the module docstring).

    * CPU features: pycc's AOT codegen takes only the CPU model's default features; the JIT asks
      LLVM for the host's. Both now use the host's.
    * No second optimisation: each kernel's library is already optimised as a whole (its callees
      linked in), exactly what the JIT turns into machine code. pycc would link it into the
      module and optimise the module again, and with fast-math flags that second round may
      contract or reassociate differently (a last-bit difference in a twiddle factor, say). The
      module keeps the kernels' IR as it is; only the small trampolines and Python wrappers,
      optimised per function, are left without module-level passes.
    """
    from numba.core import codegen

    def features(self: Any) -> str:
        return str(self._get_host_cpu_features())

    def keep_optimised_ir(self: Any) -> None:
        return None

    codegen.AOTCPUCodegen._customize_tm_features = features  # type: ignore[method-assign]
    codegen.AOTCodeLibrary._optimize_final_module = keep_optimised_ir  # type: ignore[method-assign]


def build(output: Path, *, verbose: bool = False) -> Path:
    """Compile the AOT module to ``output`` (a file path with the extension suffix, or a
    directory to put ``_aot<suffix>`` in); return the file written.

    Must run in a process where :mod:`kernels` was imported with ``BINHAI_KERNELS=jit`` and an
    empty private ``NUMBA_CACHE_DIR`` (:func:`main` sees to both): a kernel loaded from Numba's
    cache has no LLVM IR left to link into the module.
    """
    import importlib

    from numba.pycc import CC

    from kernels import _aot_spec, _backend

    if _backend.MODE != "jit":
        raise RuntimeError("the AOT build needs the JIT backend (BINHAI_KERNELS=jit)")
    _configure_codegen()
    cc = CC("_aot")
    cc.target_cpu = "host"
    cc.verbose = verbose
    output = Path(output)
    if output.is_dir():
        output = output / cc.output_file
    cc.output_dir = str(output.parent)
    cc.output_file = output.name
    for (module, name), signatures in _aot_spec.ENTRIES.items():
        dispatcher = getattr(importlib.import_module(f"kernels.{module}"), name)
        for i, tokens in enumerate(signatures):
            argtypes = tuple(_numba_type(t) for t in tokens.split())
            dispatcher.compile(argtypes)
            restype = dispatcher.overloads[argtypes].signature.return_type
            cc.export(_aot_spec.export_name(module, name, i), restype(*argtypes))(
                _trampoline(dispatcher, len(argtypes))
            )
    scope: dict[str, Any] = {}
    exec(f"def aot_fingerprint():\n    return {_backend.fingerprint()}\n", scope)
    cc.export("aot_fingerprint", "i8()")(scope["aot_fingerprint"])
    output.parent.mkdir(parents=True, exist_ok=True)
    cc.compile()
    return output


def main() -> None:
    """``python -m kernels._aot_build [OUTPUT] [-v]``: build in a fresh process with the JIT
    backend and a private, empty Numba cache."""
    args = [a for a in sys.argv[1:] if a != "-v"]
    target = Path(args[0]) if args else Path(__file__).parent
    if os.environ.get(_CHILD) != "1":
        with tempfile.TemporaryDirectory(prefix="binhai-aot-") as cache:
            env = {**os.environ, "BINHAI_KERNELS": "jit", "NUMBA_CACHE_DIR": cache, _CHILD: "1"}
            cmd = [sys.executable, "-m", "kernels._aot_build", *sys.argv[1:]]
            raise SystemExit(subprocess.call(cmd, env=env))
    started = time.monotonic()
    path = build(target, verbose="-v" in sys.argv)
    print(f"built {path} in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
