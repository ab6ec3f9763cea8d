"""The device's clock: monotonic time for windows, the cloud's wall clock by estimate.

Windows the SDK times itself (``push(..., t0=None)``) are stamped on ``time.monotonic_ns`` — it
never jumps, whatever NTP or a flat RTC battery does to the wall clock — and converted to wall time
with ``offset = cloud wall - monotonic``.

The offset comes from the cloud: every downlink ``Command`` carries ``issued_at_ns`` (the cloud's
wall clock when it sent the command). Received at monotonic time ``m``, it gives the sample
``s = issued_at_ns - m``. The true offset is ``s + d``, ``d >= 0`` being the one-way delay
(broker queueing included: commands queued through an outage arrive late), so every sample is a
lower bound and the least-delayed one is the best: the estimate is the *maximum* sample, a
min-filter on the delay. Monotonic clocks drift (crystals: tens of ppm), so an old sample is
trusted less: of the last ``MAX_SAMPLES`` samples the estimate is the one with the highest
``s_i - DRIFT_PPM * 1e-6 * age_i`` (the penalty only chooses; the estimate is that ``s_i``, so it
does not creep between samples).

Until the first sample of this boot the device's own wall clock stands in (``wall_clock() -
monotonic``), and batches are flagged ``clock_synced = false``. A wall clock before
``PLAUSIBLE_FLOOR_NS`` (2020) is known to be wrong (an RTC booted at 1970).
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

import protos

DRIFT_PPM = 50.0
MAX_SAMPLES = 32
PLAUSIBLE_FLOOR_NS = 1_577_836_800 * 10**9  # 2020-01-01T00:00:00Z

WallClock = Callable[[], int]


def boot_id() -> str:
    """Identity of the monotonic clock's epoch: the kernel's boot id, else one per process."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return f"proc-{uuid.uuid4()}"


class Clock:
    """Offset estimator; owned by the device worker (not thread-safe)."""

    def __init__(
        self,
        wall_clock: WallClock = time.time_ns,
        mono: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self._wall = wall_clock
        self._mono = mono
        self._samples: deque[tuple[int, int]] = deque(maxlen=MAX_SAMPLES)  # (recv mono, sample)
        self.boot = boot_id()

    def mono_ns(self) -> int:
        return self._mono()

    @property
    def synced(self) -> bool:
        return bool(self._samples)

    def observe(self, issued_at_ns: int) -> None:
        """A command issued at cloud time ``issued_at_ns`` has just arrived."""
        if issued_at_ns > 0:
            m = self._mono()
            self._samples.append((m, issued_at_ns - m))

    def offset_ns(self) -> int:
        """wall - monotonic: the cloud's estimate when synced, else the device's wall clock."""
        now = self._mono()
        if not self._samples:
            return self._wall() - now
        return max(self._samples, key=lambda ms: ms[1] - DRIFT_PPM * 1e-6 * (now - ms[0]))[1]

    def wall_ns(self) -> int:
        """Best estimate of the cloud's wall clock now."""
        return self._mono() + self.offset_ns()

    def rtc_error_ns(self) -> int:
        """Estimated (cloud - device wall clock), ns; 0 until synced."""
        if not self._samples:
            return 0
        return self.offset_ns() - (self._wall() - self._mono())

    def rtc_plausible(self) -> bool:
        return self._wall() >= PLAUSIBLE_FLOOR_NS


def restamp(payload: bytes, delta_ns: int, indices: Sequence[int], synced: bool) -> bytes:
    """Shift the SDK-timed windows (``indices`` >= 0), summaries (index ``i`` given as
    ``-1 - i``) and ``sent_at_ns`` of an encoded batch."""
    batch = protos.TelemetryBatch()
    batch.ParseFromString(payload)
    for i in indices:
        if i >= 0:
            batch.windows[i].t0_ns += delta_ns
        else:
            s = batch.summaries[-1 - i]
            s.t0_ns += delta_ns
            s.t1_ns += delta_ns
    batch.sent_at_ns += delta_ns
    batch.clock_synced = synced
    return batch.SerializeToString()
