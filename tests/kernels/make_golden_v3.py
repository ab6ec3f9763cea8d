"""How ``golden_codec_v3.npz`` was made: streams of the version-3 encoder, kept forever.

Run once, against the kernels of commit 6eba944 (stream version 3), with the tests of this
tree (``golden_streams`` writes the file)::

    git archive 6eba944 kernels | tar -x -C /tmp/v3
    cd /tmp/v3 && PYTHONPATH=.:/path/to/binhai python -m tests.kernels.make_golden_v3 out.npz

The current encoder writes version 4; ``test_api`` checks that every stream here still decodes to
exactly the bits the version-3 decoder gave (``__decoded``). The cases reach every version-3
block kind: the version-2 ones (RAW; ENT over decimals, ADC scales and latents; FOR, delta
orders 1-3 and lags; exceptions; short and whole-stream blocks; lossy mode) and the linear
predictor of orders 1-4 (transforms 9-12) with special values inside predicted blocks.
"""

from __future__ import annotations

import sys

import numpy as np

import kernels
from tests.kernels import golden_streams, signals

assert kernels._codec.VERSION == 3
rng = np.random.default_rng(20270301)
t = np.arange(900)
bits = np.array([0x7FC00001, 0xFFC12345, 0x7F800001, 0x00000001, 0x80000000], dtype=np.uint32)
odd = bits.view(np.float32)
decimals = np.round(20 + np.cumsum(rng.standard_normal(700)) * 0.1, 1).astype(np.float32)
with_exceptions = decimals.copy()
with_exceptions[::53] = np.resize(odd, with_exceptions[::53].size)
scale = np.float32(4 * 9.80665 / 65536)
sine = (np.sin(t[:600] * (2 * np.pi / 40.0)) * 2.0).astype(np.float32)
sine_specials = sine.copy()
sine_specials.view(np.uint32)[[60, 200]] = [0x7FC00001, 0xFFC12345]
sine_specials[[20, 100, 380]] = [-0.0, np.inf, -np.inf]
decay = (np.exp(-t[:300] / 50.0) * 3.0).astype(np.float32)
offset_sine = (5.0 + np.sin(t[:400] / 6.0) * 2.0).astype(np.float32)
two_sines = (np.sin(t[:400] / 5.0) + 0.5 * np.sin(t[:400] / 11.0)).astype(np.float32)
damped = (np.exp(-t[:512] / 300) * np.sin(t[:512] / 5.0) * 40).astype(np.float32)
# z-normalised readings of a few power levels printed to 8 digits (ACS-F1-like)
levels = np.tile([3, 41, 1700, 5], 200) + rng.integers(-2, 3, 800)
power = np.array([f"{v:.8g}" for v in (levels - levels.mean()) / levels.std()], dtype=np.float64)
cases = {
    "temperature": (signals.temperature_log(600), None),
    "accel3": (signals.walking_accel(256).T.ravel().copy(), None),
    "ppg": (signals.ppg(700), None),
    "decimals_exc": (with_exceptions, None),
    "adc_scale": ((np.round(rng.standard_normal(600) * 900) * scale).astype(np.float32), None),
    "sines": (np.sin(t / 7.3).astype(np.float32) * np.float32(3.7), None),
    "sine_specials": (sine_specials, None),
    "damped": (damped, None),
    "decay": (decay, None),
    "offset_sine": (offset_sine, None),
    "two_sines": (two_sines, None),
    "sine_short": (sine[:259], None),
    "cycle": (np.tile(np.float32([0.1, 2.5, 7.25, 2.5, 0.1, -1.5]), 90), None),
    "power_levels": (power.astype(np.float32), None),
    "ramp": (np.arange(500, dtype=np.float32) * np.float32(0.25), None),
    "white": (rng.standard_normal(400).astype(np.float32), None),
    "odd_bits": (np.resize(odd, 37), None),
    "short": (np.float32([3.25, -0.0]), None),
    "block_plus_one": (np.round(rng.standard_normal(257), 3).astype(np.float32), None),
    "lossy_scale": (signals.temperature_log(400), 0.05),
}
golden_streams.save(cases, sys.argv[1])
