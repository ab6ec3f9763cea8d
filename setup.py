"""Build hook: compile the ahead-of-time kernels (``kernels._aot``) with the package.

Everything else is in pyproject.toml. ``pip install .``, ``pip install -e .`` and a wheel build
all run ``build_ext``, which builds ``kernels._aot`` with Numba's ``pycc``
(:mod:`kernels._aot_build`, in a child process). A device then runs the kernels without Numba
or LLVM (docs/device.md, "Footprint"). When the build fails (no C compiler, an unsupported
platform), the install still succeeds: the reason is printed and the kernels are compiled by
Numba at run time, with one log line saying so.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


class AotKernels(Extension):
    """The ahead-of-time kernels: no sources of its own, built by :class:`BuildExt`."""

    def __init__(self) -> None:
        super().__init__("kernels._aot", sources=[])


class BuildExt(build_ext):
    def build_extension(self, ext: Extension) -> None:
        if not isinstance(ext, AotKernels):
            super().build_extension(ext)
            return
        target = Path(self.get_ext_fullpath(ext.name)).resolve()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
        cmd = [sys.executable, "-m", "kernels._aot_build", str(target)]
        print(f"binhai: compiling the ahead-of-time kernels into {target}", flush=True)
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        if proc.returncode != 0 or not target.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            print(
                "binhai: WARNING: the ahead-of-time kernels were not built; devices will compile "
                "the kernels with Numba at run time. Cause:\n  " + "\n  ".join(tail),
                file=sys.stderr,
                flush=True,
            )
            return
        print(proc.stdout.strip(), flush=True)


setup(ext_modules=[AotKernels()], cmdclass={"build_ext": BuildExt})
