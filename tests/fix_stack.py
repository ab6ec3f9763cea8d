"""binhai's own services for the tests (loaded by ``-p tests.fix_stack``).

- ``migrated_dsn`` (session): the session database with the schema applied.
- ``run`` : run a coroutine to completion (the suite needs no asyncio plugin).
- ``make_batch``: build a valid TelemetryBatch for a tenant/device/seq.
- ``stack`` (function): a real broker-bridge-core deployment (child processes) on the test
  services, scoped to the test's tenant and a private shared-subscription group.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest

import kernels
import protos
from binhai._stack import Stack
from kernels import _backend

T = TypeVar("T")
_WARM = pytest.StashKey[float]()


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Compile every kernel once up front (a cold Numba cache takes ~15 s), so no test — and no
    child process sharing the cache — pays it inside a timed wait. The services the tests start
    run the JIT (the CLI's default) even where this process runs the ahead-of-time kernels: their
    cache is filled by a JIT process of its own."""
    started = time.perf_counter()
    kernels.warm_up()
    if _backend.MODE != "jit":
        env = {**os.environ, "BINHAI_KERNELS": "jit"}
        code = "import kernels; kernels.warm_up()"
        subprocess.run([sys.executable, "-c", code], env=env, check=True)
    session.config.stash[_WARM] = time.perf_counter() - started


def pytest_report_header(config: pytest.Config) -> str:
    seconds = config.stash.get(_WARM, None)
    return "binhai kernels: " + ("not warmed" if seconds is None else f"warmed in {seconds:.1f}s")


@pytest.fixture(scope="session")
def migrated_dsn(pg_dsn: str) -> str:
    from cloud_core import migrate

    asyncio.run(migrate(pg_dsn))
    return pg_dsn


@pytest.fixture
def run() -> Callable[[Coroutine[Any, Any, T]], T]:
    return asyncio.run


def build_batch(
    tenant: str,
    device_id: str,
    seq: int,
    *,
    windows: int = 2,
    t0_ns: int | None = None,
    raw: bool = False,
) -> protos.TelemetryBatch:
    """A valid batch of ``windows`` one-channel windows with real features."""
    rng = np.random.default_rng(seq)
    t0 = t0_ns if t0_ns is not None else time.time_ns() - 60 * 10**9 + seq * 10**9
    b = protos.TelemetryBatch(tenant=tenant, device_id=device_id, seq=seq, sent_at_ns=t0)
    for i in range(windows):
        x = rng.normal(size=64).astype(np.float32)
        w = b.windows.add(
            sensor="accel",
            t0_ns=t0 + i * 640_000_000,
            rate_hz=50.0,
            channels=1,
            n_samples=64,
            novelty=0.1,
        )
        w.offload = protos.Offload.OFFLOAD_BOTH if raw else protos.Offload.OFFLOAD_FEATURES
        w.features.algo_version = kernels.ALGO_VERSION
        w.features.values.extend(kernels.window_features(x, 50.0).tolist())
        if raw:
            w.raw.codec = protos.Codec.CODEC_BINHAI
            w.raw.data = kernels.encode_samples(x)
    return b


@pytest.fixture
def make_batch() -> Callable[..., protos.TelemetryBatch]:
    return build_batch


@pytest.fixture
def stack(
    tmp_path: Path, migrated_dsn: str, mqtt_url: str, unique_tenant: str
) -> Iterator[Callable[..., Stack]]:
    """Factory: ``stack(cores=1, bridges=1)`` starts a deployment; all are stopped at teardown."""
    started: list[Stack] = []

    def factory(**kwargs: Any) -> Stack:
        s = Stack(
            tmp_path / f"stack-{len(started)}",
            dsn=migrated_dsn,
            mqtt_url=mqtt_url,
            tenant=unique_tenant,
            share_group=None if kwargs.get("bridges", 1) == 1 else f"g{uuid.uuid4().hex[:8]}",
            **kwargs,
        )
        started.append(s)
        s.start()
        return s

    yield factory
    for s in started:
        s.stop()
