"""The ahead-of-time kernels (``kernels._aot``) against the JIT ones: built by the install, the
same bytes on the golden vectors and the reference suite's inputs, and the reference suite
passing on them. Each backend runs in its own process (the backend is chosen at import)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _env(mode: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_DISABLE_JIT"}
    return {**env, "BINHAI_KERNELS": mode}


def _run(
    args: list[str], mode: str, *, extra: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env={**_env(mode), **(extra or {})},
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def test_install_built_a_current_aot_module() -> None:
    """``pip install`` (setup.py) compiled the module from these sources for this CPU; without it
    a device would compile with Numba at run time."""
    proc = _run(["-c", "from kernels import _backend; print(_backend.MODE)"], "aot")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "aot"


@pytest.mark.slow
def test_aot_and_jit_give_the_same_bytes(tmp_path: Path) -> None:
    """The JIT side compiles into an empty cache: Numba's cache of a kernel is not invalidated
    when a kernel it calls, in another module, changes (the AOT build compiles afresh too)."""
    got = {}
    for mode in ("jit", "aot"):
        out = tmp_path / f"{mode}.npz"
        cache = {"NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")} if mode == "jit" else {}
        proc = _run(["-m", "tests.kernels.conformance", str(out)], mode, extra=cache)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
        with np.load(out) as npz:
            got[mode] = {key: npz[key] for key in npz.files}
        assert str(got[mode]["backend"]) == mode
    jit, aot = got["jit"], got["aot"]
    assert sorted(jit) == sorted(aot)
    assert len(jit) > 120
    differ = [
        key
        for key in jit
        if key != "backend"
        and (jit[key].dtype, jit[key].shape, jit[key].tobytes())
        != (aot[key].dtype, aot[key].shape, aot[key].tobytes())
    ]
    assert not differ, f"AOT and JIT differ on {differ}"


@pytest.mark.slow
def test_reference_suite_on_aot() -> None:
    tests = [
        "tests/kernels/test_reference_kernels.py",
        "tests/kernels/test_points.py",
        "tests/kernels/test_api.py",
    ]
    proc = _run(["-m", "pytest", "-q", "-p", "no:cacheprovider", *tests], "aot")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_aot_dispatch_refuses_types_it_has_no_build_for() -> None:
    """The compiled functions check only item sizes: the dispatch checks dtype, ndim, layout."""
    code = """
import numpy as np
from kernels import KernelError, _backend
from kernels._features import _LAGS, features_into
from kernels._spectral import hann
assert _backend.MODE == "aot" and features_into.aot_signatures
out = np.empty(len(_LAGS) + 64, dtype=np.float32)
x = np.zeros((128, 2), dtype=np.float32)
for bad in (x[:, 0], x[:, 0].astype(np.int32), x[:, 0].astype(">f4"), x):
    try:
        features_into(bad, 50.0, hann(128), _LAGS, out)
    except KernelError as exc:
        assert "no ahead-of-time build" in str(exc), exc
    else:
        raise AssertionError(f"accepted {bad.dtype} {bad.shape} {bad.flags.c_contiguous}")
try:
    features_into(x[:, 0].copy(), 50, hann(128), _LAGS, out)  # an int where the kernel takes f8
except KernelError:
    pass
else:
    raise AssertionError("accepted an int sample rate")
print("ok")
"""
    proc = _run(["-c", code], "aot")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "ok"


def test_unknown_backend_is_refused() -> None:
    proc = _run(["-c", "import kernels"], "fast")
    assert proc.returncode != 0
    assert "BINHAI_KERNELS must be one of auto, jit, aot" in proc.stderr


def test_without_the_module_a_device_compiles_with_one_log_line(tmp_path: Path) -> None:
    """A failed build (no C compiler) leaves no module: ``auto`` runs the JIT and says why once;
    ``aot`` refuses to import."""
    shutil.copytree(
        ROOT / "kernels", tmp_path / "kernels", ignore=shutil.ignore_patterns("*.so", "__pycache__")
    )
    code = "from kernels import _backend; print(_backend.MODE)"
    # -S: no .pth files, so the editable install's finder cannot supply the real module
    site = sysconfig.get_paths()
    path = os.pathsep.join([str(tmp_path), site["purelib"], site["platlib"]])
    for mode, ok in (("auto", True), ("aot", False)):
        env = {**_env(mode), "PYTHONPATH": path}
        proc = subprocess.run(
            [sys.executable, "-S", "-c", code], cwd=tmp_path, env=env,
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        if ok:
            assert proc.returncode == 0, proc.stderr[-2000:]
            assert proc.stdout.strip() == "jit"
            lines = [ln for ln in proc.stderr.splitlines() if "ahead-of-time" in ln]
            assert len(lines) == 1 and "not built" in lines[0], proc.stderr
        else:
            assert proc.returncode != 0
            assert "BINHAI_KERNELS=aot: the ahead-of-time kernels are not built" in proc.stderr
