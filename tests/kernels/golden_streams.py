"""Write the streams of an encoder for a set of cases: the golden sets of old stream versions
(``make_golden_v1.py`` to ``make_golden_v3.py``), which later decoders must read forever."""

from __future__ import annotations

import numpy as np

import kernels


def save(cases: dict[str, tuple[np.ndarray, float | None]], path: str) -> None:
    """``name -> (samples, resolution)``: each case's input, stream and decoded samples."""
    out = {}
    for name, (x, res) in cases.items():
        b = kernels.encode_samples(x, resolution=res)
        out[f"{name}__input"] = x
        out[f"{name}__stream"] = np.frombuffer(b, dtype=np.uint8)
        out[f"{name}__decoded"] = kernels.decode_samples(b)
    np.savez_compressed(path, **out)
    print(f"wrote {path}")
