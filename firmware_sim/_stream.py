"""One sensor's sample stream: fixed blocks of physics, faults and ADC, served in any chunks.

Block ``k`` holds samples ``k × BLOCK … (k+1) × BLOCK - 1`` and is always made the same way —
the model renders it (its noise drawn from the stream's own RNG, blocks in order), sensor faults
act before and after the ADC (quantise to ``adc_step``, saturate at the rails) — so ``take``
returns the same samples however the caller splits its requests.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from firmware_sim._faults import SensorFaults
from firmware_sim._models._base import SensorModel
from firmware_sim._schedule import Injection

BLOCK = 4096  # samples


class Stream:
    def __init__(
        self, model: SensorModel, faults: Sequence[Injection], key: tuple[int, ...]
    ) -> None:
        self.model = model
        self.info = model.info
        self._faults = SensorFaults(model, faults)
        self._rng = np.random.Generator(np.random.SFC64(np.random.SeedSequence(key)))
        self._block = 0
        self._buf = np.zeros((0, self.info.channels), dtype=np.float32)
        self._pos = 0
        self._last: np.ndarray | None = None
        self.taken = 0  # samples handed out so far

    def take(self, n: int) -> np.ndarray:
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        out = np.empty((n, self.info.channels), dtype=np.float32)
        done = 0
        while done < n:
            if self._pos == len(self._buf):
                self._buf = self._next_block()
                self._pos = 0
            k = min(n - done, len(self._buf) - self._pos)
            out[done : done + k] = self._buf[self._pos : self._pos + k]
            self._pos += k
            done += k
        self.taken += n
        return out

    def _next_block(self) -> np.ndarray:
        i0 = self._block * BLOCK
        t = (i0 + np.arange(BLOCK)) / self.info.rate_hz
        m = self.model
        x = m.render(i0, t, self._rng)
        self._faults.before_adc(x, i0, self._block)
        step = self.info.adc_step
        if step > 0:
            x = np.round(x / step)
            x *= step
        np.maximum(x, m.lo, out=x)
        np.minimum(x, m.hi, out=x)
        self._faults.after_adc(x, i0, self._last)
        self._last = x[-1].copy()
        self._block += 1
        return x.astype(np.float32)
