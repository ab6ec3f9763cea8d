"""The codec side of ``binhai bench kernels``: bytes per sample against the peer codecs.

Every codec compresses each window on its own, as a device sends it, and is charged for its
whole output (headers included): ours (:func:`kernels.encode_samples`), a plain Gorilla XOR
coder (:mod:`binhai.bench.baselines`), zstd level 3, pcodec with its default settings, and
blosc2 with its shuffle + byte-delta filters (its default zstd codec and level, one thread).
A peer whose package is missing is reported as ``None``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from binhai.bench import corpora
from binhai.bench.baselines import gorilla_bytes
from kernels import decode_samples, encode_samples

Sizer = Callable[[np.ndarray], int]


def peers() -> dict[str, Sizer | None]:
    """Compressed size in bytes of one float32 window, per peer codec (None: not installed)."""
    out: dict[str, Sizer | None] = {"gorilla": gorilla_bytes}
    try:
        import zstandard

        zc = zstandard.ZstdCompressor(level=3)
        out["zstd3"] = lambda w: len(zc.compress(w.tobytes()))
    except ImportError:
        out["zstd3"] = None
    try:
        from pcodec import ChunkConfig, standalone

        cfg = ChunkConfig()
        out["pcodec"] = lambda w: len(standalone.simple_compress(w, cfg))
    except ImportError:
        out["pcodec"] = None
    try:
        import blosc2

        filters = [blosc2.Filter.SHUFFLE, blosc2.Filter.BYTEDELTA]
        out["blosc2_bytedelta"] = lambda w: len(
            blosc2.compress2(
                w.tobytes(), typesize=4, nthreads=1, filters=filters, filters_meta=[0, 0]
            )
        )
    except ImportError:
        out["blosc2_bytedelta"] = None
    return out


def compare(corpus: corpora.Corpus, sizers: dict[str, Sizer | None]) -> dict[str, Any]:
    """Bytes per sample of every codec on one corpus, and ours ÷ the best peer."""
    n = corpus.samples
    res: dict[str, Any] = {
        "recorded": corpus.recorded,
        "windows": len(corpus.windows),
        "samples": n,
        "bytes_per_sample": sum(len(encode_samples(w)) for w in corpus.windows) / n,
    }
    best = None
    for name, fn in sizers.items():
        v = None if fn is None else sum(fn(w) for w in corpus.windows) / n
        res[f"{name}_bytes_per_sample"] = v
        if v is not None and (best is None or v < best[1]):
            best = (name, v)
    # the previous report's column: ours ÷ the better of Gorilla and zstd-3
    old = [res[k] for k in ("gorilla_bytes_per_sample", "zstd3_bytes_per_sample") if res[k]]
    res["ratio_vs_best_baseline"] = res["bytes_per_sample"] / min(old)
    res["best_peer"] = best[0] if best else None
    res["ratio_vs_best_peer"] = res["bytes_per_sample"] / best[1] if best else None
    return res


def _best(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def throughput(x: np.ndarray, repeat: int = 5) -> dict[str, float]:
    """Encode/decode MB/s of one long stream (median of ``repeat``, the calling thread only)."""
    enc = encode_samples(x)
    decode_samples(enc)
    t_enc = _best(lambda: encode_samples(x), repeat)
    t_dec = _best(lambda: decode_samples(enc), repeat)
    return {"encode_mb_s": x.nbytes / t_enc / 1e6, "decode_mb_s": x.nbytes / t_dec / 1e6}


def run() -> dict[str, Any]:
    """Every corpus against every peer, then throughput on each corpus's windows concatenated."""
    sizers = peers()
    out: dict[str, Any] = {
        "peers_available": {k: v is not None for k, v in sizers.items()},
    }
    all_corpora = corpora.synthetic() + corpora.recorded()
    out["zstd_available"] = sizers["zstd3"] is not None
    out["recorded_available"] = any(c.recorded for c in all_corpora)
    out["corpora"] = [c.name for c in all_corpora]
    ratios = []
    for c in all_corpora:
        out[c.name] = compare(c, sizers)
        if out[c.name]["ratio_vs_best_peer"] is not None:
            ratios.append(out[c.name]["ratio_vs_best_peer"])
    out["worst_ratio_vs_best_peer"] = max(ratios) if ratios else None
    x = np.tile(corpora.codec_signals(3 * 256 * 300)["noisy_accel"], 4)
    out.update(throughput(x))
    for c in all_corpora:
        stream = np.concatenate(c.windows)
        out[c.name].update(throughput(stream, repeat=3))
    win = x[: 3 * 256]
    out["encode_window_us"] = _best(lambda: [encode_samples(win) for _ in range(2000)]) / 2000 * 1e6
    return out
