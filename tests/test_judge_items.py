"""The core judges every staged window on the same evidence as :func:`window_evidence`.

The ingest path copies a window's fields into a :class:`JudgeItem` while staging (so the
Judge's per-window work never goes back to the protobuf message), and the core's
:class:`Alerter` hands them to :meth:`Judge.judge_window` field by field; what the Judge gets
must be exactly what :func:`window_evidence` makes of the window, so verdicts are unchanged.
Pure: no database.
"""

from __future__ import annotations

import math
import time

import numpy as np

import kernels
import protos
from cloud_core import Judge, window_evidence
from cloud_core._alerting import Alerter
from cloud_core._judge import Evidence, Verdict
from cloud_core._store import stage

S = 10**9
N = 128
RATE = 50.0


def _batch(seq: int) -> protos.TelemetryBatch:
    t0 = time.time_ns() - 600 * S
    b = protos.TelemetryBatch(tenant="acme", device_id="d1", seq=seq, sent_at_ns=t0)
    rng = np.random.default_rng(seq)
    x = rng.normal(size=(3, N)).astype(np.float32)
    f = np.concatenate([kernels.window_features(ch, RATE) for ch in x]).astype(np.float32)
    off = protos.Offload
    for i, (offload, raw, feats, novelty, flags) in enumerate(
        [
            (off.OFFLOAD_FEATURES, False, True, 0.5, 0),
            (off.OFFLOAD_FEATURES, True, True, math.nan, 4),
            (off.OFFLOAD_RAW, True, False, 2.0, 0),
            (off.OFFLOAD_BOTH, True, True, math.inf, 1),
            (off.OFFLOAD_COMPACT, False, False, 5.0, int(protos.WindowFlag.FLAG_SPIKE)),
            (off.OFFLOAD_COMPACT, False, True, 5.0, int(protos.WindowFlag.FLAG_NOISE)),
        ]
    ):
        w = b.windows.add(
            sensor="accel" if i % 2 else "ppg",
            t0_ns=t0 + i * 3 * S,
            rate_hz=RATE,
            channels=3,
            n_samples=N,
            offload=offload,
            novelty=novelty,
            flags=flags,
        )
        if feats:
            w.features.algo_version = kernels.ALGO_VERSION
            w.features.values.extend(f.tolist())
        if raw:
            w.raw.codec = protos.Codec.CODEC_F32LE
            w.raw.data = x.astype("<f4").tobytes()
        if offload == off.OFFLOAD_COMPACT:
            w.compact.index.extend([0, 1, 4])
            w.compact.half = np.arange(9, dtype="<f2").tobytes()
    return b


def _same(a: Evidence, b: Evidence) -> None:
    for name in ("key", "t0_ns", "rate_hz", "n_samples", "flags"):
        assert getattr(a, name) == getattr(b, name), name
    assert a.novelty == b.novelty or (math.isnan(a.novelty) and math.isnan(b.novelty))
    for name in ("features", "samples"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            assert x.dtype == y.dtype and np.array_equal(x, y, equal_nan=True), name


class _Recording(Judge):
    """The Judge, keeping what each window was judged on as the Evidence it amounts to."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Evidence] = []

    def judge_window(self, tenant, device, sensor, t0_ns, rate_hz, n_samples, features,
                     samples, novelty, device_flags) -> Verdict:  # type: ignore[no-untyped-def]  # fmt: skip
        key = (tenant, device, sensor)
        ev = Evidence(key, t0_ns, rate_hz, n_samples, features, samples, novelty, device_flags)
        self.seen.append(ev)
        return super().judge_window(
            tenant, device, sensor, t0_ns, rate_hz, n_samples, features, samples, novelty,
            device_flags,
        )  # fmt: skip


def test_the_alerter_judges_the_evidence_window_evidence_gives() -> None:
    batches = [_batch(seq) for seq in (1, 2)]
    staged, outcomes = stage([protos.IngestRequest(batch=b) for b in batches])
    assert outcomes == [None, None]
    windows = [w for b in batches for w in b.windows]
    assert len(staged.judge) == len(windows)
    wanted = {}
    for item, w in zip(staged.judge, windows, strict=True):
        assert item.length_ns == round(w.n_samples * 1e9 / w.rate_hz)
        key = (item.batch[0], item.batch[1], w.sensor)
        if item.samples is not None:
            want = window_evidence(key, w, item.samples, item.features)
        elif w.offload != protos.Offload.OFFLOAD_COMPACT and len(w.features.values):
            want = window_evidence(key, w, None, np.asarray(w.features.values, np.float32))
        else:
            want = window_evidence(key, w, None)
        wanted[key, w.t0_ns] = want
    alerter = Alerter()
    alerter.judge = judge = _Recording()
    alerter(staged.judge)
    assert len(judge.seen) == len(wanted)
    for got in judge.seen:
        _same(got, wanted[got.key, got.t0_ns])
