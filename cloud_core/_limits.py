"""Ingest limits: what the core accepts from devices, checked before anything is allocated.

Every size a batch declares (windows per batch, channels x samples per window, decoded bytes
per batch) is checked against these limits, and the raw bytes of a window must decode to
exactly the samples its window declares (the codec checks its header against that count before
it allocates). A batch over a limit is dead-lettered with the reason; it never reaches a kernel.
The writer also bounds what one flush decodes (``max_flush_decoded_bytes``) and what waits in
its queue (``max_queue_bytes``), so the core's memory is bounded by configuration, not by input.

seq and time bounds keep every later query bounded and every rollup honest: a seq above
:data:`MAX_SEQ` (2**53 - 1: a device sending 1,000 batches a second needs 285,000 years to get
there) is refused, an evicted range must lie below the seq of the batch that reports it, and a
window whose ``t0`` is before the Unix epoch or more than ``max_future`` ahead of the core's
clock is refused (a future-dated window would otherwise pull the rollups' refresh window, and a
continuous aggregate's watermark, into the future). :func:`check_stream` applies the shape,
rate, name and time bounds to a window or a summary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import timedelta

from cloud_core._errors import RejectedItem

__all__ = ["INT32_MAX", "INT64_MAX", "MAX_SEQ", "IngestLimits", "check_stream"]

INT32_MAX = (1 << 31) - 1
INT64_MAX = (1 << 63) - 1
#: Largest seq the core stores (exact in a float64 / JSON number as well).
MAX_SEQ = (1 << 53) - 1


@dataclass(frozen=True, slots=True)
class IngestLimits:
    """Bounds on what one ingest item may declare, and on the writer's memory.

    max_channels : channels per window.
    max_window_samples : channels x n_samples of one window (2**20: 4 MiB decoded).
    max_batch_windows : windows per batch.
    max_batch_decoded_bytes : float32 bytes the raw windows of one batch decode to.
    max_flush_decoded_bytes : the same over one flush; a flush stops taking batches there
        (a single batch is always taken).
    max_queue_bytes : serialized bytes of requests waiting for a flush; ``submit`` waits above
        it (backpressure through gRPC flow control to the bridges).
    max_future : how far ahead of the core's clock a window's t0 may be.
    """

    max_channels: int = 64
    max_window_samples: int = 1 << 20
    max_batch_windows: int = 4096
    max_batch_decoded_bytes: int = 32 << 20
    max_flush_decoded_bytes: int = 128 << 20
    max_queue_bytes: int = 256 << 20
    max_future: timedelta = timedelta(days=1)
    # max_future in ns, computed once (staging reads it for every batch)
    _future_ns: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        for name in (
            "max_channels",
            "max_window_samples",
            "max_batch_windows",
            "max_batch_decoded_bytes",
            "max_flush_decoded_bytes",
            "max_queue_bytes",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"IngestLimits.{name} must be >= 1")
        if self.max_future < timedelta(0):
            raise ValueError("IngestLimits.max_future must not be negative")
        object.__setattr__(self, "_future_ns", self.max_future // timedelta(microseconds=1) * 1000)

    @property
    def max_future_ns(self) -> int:
        return self._future_ns


def check_stream(
    key: tuple[str, str, int],
    what: str,
    sensor: str,
    rate: float,
    channels: int,
    n_samples: int,
    t0: int,
    limits: IngestLimits,
    latest_ns: int,
) -> None:
    """Sensor name, rate, shape and start time (at most ``latest_ns``) of a window or summary
    (``what``)."""
    dev, seq = key[1], key[2]
    if not sensor or len(sensor) > 64 or not sensor.isprintable():
        raise RejectedItem(f"bad sensor name in {what} {sensor[:40]!r}", device_id=dev, seq=seq)
    if not (math.isfinite(rate) and rate > 0):
        raise RejectedItem(f"{what}: bad rate_hz {rate}", device_id=dev, seq=seq)
    if (
        not 1 <= channels <= limits.max_channels
        or n_samples < 1
        or channels * n_samples > limits.max_window_samples
    ):
        raise RejectedItem(
            f"{what}: bad shape {channels}x{n_samples} (limits: {limits.max_channels}"
            f" channels, {limits.max_window_samples} samples)",
            device_id=dev,
            seq=seq,
        )
    if not 0 <= t0 <= latest_ns:
        raise RejectedItem(
            f"{what}: t0 {t0} ns before 1970 or more than {limits.max_future} ahead",
            device_id=dev,
            seq=seq,
        )
