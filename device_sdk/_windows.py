"""Per-sensor windowing: samples in, overlapping windows out. Pure, no I/O, no threads."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from device_sdk._config import SensorSpec

NS = 1_000_000_000


class Windower:
    """Accumulates samples of one sensor and yields ``(t0_ns, window)`` pairs.

    ``window`` has shape (channels, spec.window), float32. Each sample's time is its stream
    time: the ``t0_ns`` given with the chunk, or the continuation of the previous chunk. A chunk
    whose given time jumps by more than 1.5 sample periods from the expected one starts a new
    stream: the incomplete window before it is discarded and counted in ``discarded``.
    """

    def __init__(self, spec: SensorSpec) -> None:
        self.spec = spec
        self._period_ns = NS / spec.rate_hz
        self._pending = np.empty((spec.channels, 0), dtype=np.float32)
        # Times are exact: stream start (int ns) plus a whole sample count, never accumulated.
        self._start_ns: int | None = None
        self._offset = 0  # samples between the stream start and _pending[:, 0]
        self.discarded = 0

    def _time_of(self, sample: int) -> int:
        assert self._start_ns is not None
        return self._start_ns + round(sample * NS / self.spec.rate_hz)

    def expected_next_ns(self) -> float | None:
        if self._start_ns is None:
            return None
        return self._time_of(self._offset + self._pending.shape[1])

    def resized(self, spec: SensorSpec) -> Windower:
        """A windower for ``spec`` (same sensor, new window/hop) that keeps the pending samples."""
        new = Windower(spec)
        new._pending, new._start_ns = self._pending, self._start_ns
        new._offset, new.discarded = self._offset, self.discarded
        return new

    def push(self, samples: np.ndarray, t0_ns: int | None) -> Iterator[tuple[int, np.ndarray]]:
        """Add ``samples`` (channels, n) taken from ``t0_ns``; yield the windows now complete."""
        expected = self.expected_next_ns()
        if t0_ns is None:
            if expected is None:
                raise ValueError("first chunk of a stream needs a time")
            t0_ns = round(expected)
        elif expected is not None and abs(t0_ns - expected) > 1.5 * self._period_ns:
            self.discarded += self._pending.shape[1]
            self._pending = self._pending[:, :0]
            expected = None
        if expected is None:
            self._start_ns, self._offset = int(t0_ns), 0
        self._pending = np.concatenate([self._pending, samples], axis=1)
        w, hop = self.spec.window, self.spec.hop
        while self._pending.shape[1] >= w:
            yield self._time_of(self._offset), np.ascontiguousarray(self._pending[:, :w])
            self._pending = self._pending[:, hop:]
            self._offset += hop
