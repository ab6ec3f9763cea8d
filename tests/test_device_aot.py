"""A device process runs on the ahead-of-time kernels: Numba and LLVM are never imported.

Real subprocesses (the kernel backend is chosen once per process), with the backend left to its
default (``auto``), as an app embedding ``device_sdk`` would run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

DEVICE = """
import json, sys
import numpy as np
import kernels
from device_sdk import BatchPolicy, Device, FakeTransport

uplink = sys.argv[2]
fake = FakeTransport()
rng = np.random.default_rng(0)
policy = kernels.OffloadPolicy(novelty_threshold=0.0, both_fraction=0.5)  # RAW windows too
with Device(
    "aot-1", tenant="acme", data_dir=sys.argv[1], transport=fake, uplink=uplink,
    batch=BatchPolicy(max_windows=1), offload_policy=policy,
) as dev:
    dev.add_sensor("accel", rate_hz=50.0, channels=3, window=128)
    dev.add_sensor("vib", rate_hz=1000.0, channels=1, window=256)
    for _ in range(40):
        dev.push("accel", rng.standard_normal((64, 3)).astype(np.float32))
        dev.push("vib", rng.standard_normal((256, 1)).astype(np.float32))
    assert dev.flush(30), "not flushed"
    windows = dev.stats()["windows"]
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("numba", "llvmlite", "rocket_fft"))
print(json.dumps({
    "backend": kernels._backend.MODE, "loaded": loaded, "windows": windows,
    "published": len(fake.published),
}))
"""


@pytest.mark.parametrize("uplink", ["windows", "synergy"])
def test_device_runs_without_numba(tmp_path: Path, uplink: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("BINHAI_KERNELS", "NUMBA_DISABLE_JIT")}
    proc = subprocess.run(
        [sys.executable, "-c", DEVICE, str(tmp_path), uplink],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["backend"] == "aot"
    assert res["loaded"] == []  # 'numba' not in sys.modules, nor LLVM's binding
    assert res["windows"] >= 40
    assert res["published"] > 0
