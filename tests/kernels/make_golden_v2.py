"""How ``golden_codec_v2.npz`` was made: streams of the version-2 encoder, kept forever.

Run once, against the kernels of commit 32d75a8 (stream version 2), with the tests of this
tree (``golden_streams`` writes the file)::

    git archive 32d75a8 kernels | tar -x -C /tmp/v2
    cd /tmp/v2 && PYTHONPATH=.:/path/to/binhai python -m tests.kernels.make_golden_v2 out.npz

The current encoder writes version 3; ``test_api`` checks that every stream here still decodes to
exactly the bits the version-2 decoder gave (``__decoded``). The cases reach every version-2
block kind: RAW; ENT over decimals, ADC scales and latents; FOR, delta orders 1-3 and lags;
exceptions; short and whole-stream blocks; lossy mode.
"""

from __future__ import annotations

import sys

import numpy as np

import kernels
from tests.kernels import golden_streams, signals

assert kernels._codec.VERSION == 2
rng = np.random.default_rng(20261127)
t = np.arange(900)
bits = np.array([0x7FC00001, 0xFFC12345, 0x7F800001, 0x00000001, 0x80000000], dtype=np.uint32)
odd = bits.view(np.float32)
decimals = np.round(20 + np.cumsum(rng.standard_normal(700)) * 0.1, 1).astype(np.float32)
with_exceptions = decimals.copy()
with_exceptions[::53] = np.resize(odd, with_exceptions[::53].size)
scale = np.float32(4 * 9.80665 / 65536)
cases = {
    "temperature": (signals.temperature_log(600), None),
    "accel3": (signals.walking_accel(256).T.ravel().copy(), None),
    "ppg": (signals.ppg(700), None),
    "decimals_exc": (with_exceptions, None),
    "adc_scale": ((np.round(rng.standard_normal(600) * 900) * scale).astype(np.float32), None),
    "sines": (np.sin(t / 7.3).astype(np.float32) * np.float32(3.7), None),
    "cycle": (np.tile(np.float32([0.1, 2.5, 7.25, 2.5, 0.1, -1.5]), 90), None),
    "ramp": (np.arange(500, dtype=np.float32) * np.float32(0.25), None),
    "white": (rng.standard_normal(400).astype(np.float32), None),
    "odd_bits": (np.resize(odd, 37), None),
    "short": (np.float32([3.25, -0.0]), None),
    "block_plus_one": (np.round(rng.standard_normal(257), 3).astype(np.float32), None),
    "lossy_scale": (signals.temperature_log(400), 0.05),
}
golden_streams.save(cases, sys.argv[1])
