"""One simulated device streaming live through the real SDK, a reboot at a time.

A :class:`Member` feeds one :class:`device_sdk.Device` from a sample source — a scenario's
:class:`SimDevice`, or the original accelerometer model — chunk by chunk in simulated time. A
reboot closes the Device (without waiting for its outbox) and opens a new one on the same data
directory when the downtime is over: it resends what was not acknowledged and continues the seq.
Samples of the downtime are taken from the source and dropped (the device was not running).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from device_sdk import Device
from firmware_sim._catalog import SensorInfo
from firmware_sim._signals import ADC_STEP, AccelModel

# counters of device_sdk's stats() that restart at 0 with every Device: summed over reboots
CUMULATIVE = (
    "samples_pushed",
    "samples_dropped_overflow",
    "windows",
    "windows_raw",
    "windows_both",
    "batches_created",
    "batches_acked",
    "heartbeats",
)


class Source(Protocol):
    device_id: str
    sensors: tuple[SensorInfo, ...]

    def take(self, sensor: str, n: int) -> np.ndarray: ...


class AccelSource:
    """The original fleet's device: one accelerometer (:class:`AccelModel`), no faults."""

    def __init__(self, device_id: str, model: AccelModel, sensor: str, window: int) -> None:
        self.device_id = device_id
        self.model = model
        self.sensors: tuple[SensorInfo, ...] = (
            SensorInfo(sensor, model.rate_hz, 3, window, "m/s^2", ADC_STEP),
        )

    def take(self, sensor: str, n: int) -> np.ndarray:
        return self.model.take(n)


class Member:
    """A source and its live Device; ``open_device(device_id)`` makes a Device (sensors added)."""

    def __init__(
        self,
        source: Source,
        open_device: Callable[[Source], Device],
        *,
        battery: Callable[[float], float] | None = None,
        downtimes: tuple[tuple[float, float], ...] = (),
    ) -> None:
        self.source = source
        self._open_device = open_device
        self._battery = battery
        self._downtimes = sorted(downtimes)
        self.device: Device | None = open_device(source)
        self.first_seq = int(self.device.stats()["first_seq_at_open"])
        self.reboots = 0
        self._retired: dict[str, int] = dict.fromkeys(CUMULATIVE, 0)
        self._last_stats: dict[str, Any] = self.device.stats()
        self._carry = {s.name: 0.0 for s in source.sensors}
        self._taken = {s.name: 0 for s in source.sensors}
        self._fresh = {s.name for s in source.sensors}  # sensors not yet pushed to this Device
        self._battery_set = -1.0
        self._down_until: float | None = None

    def step(self, sim_s: float, step_s: float, t0_unix: float) -> None:
        """Stream the samples of [sim_s, sim_s + step_s)."""
        self._reboot_if_due(sim_s)
        dev = self.device
        if dev is not None and self._battery is not None:
            level = round(self._battery(sim_s), 3)
            if level != self._battery_set:
                dev.set_battery(level)
                self._battery_set = level
        for info in self.source.sensors:
            exact = step_s * info.rate_hz + self._carry[info.name]
            n = int(exact)
            self._carry[info.name] = exact - n
            if not n:
                continue
            samples = self.source.take(info.name, n)
            if dev is not None:
                # A Device's first chunk fixes its stream's time; later ones continue it exactly.
                fresh = info.name in self._fresh
                t0 = t0_unix + self._taken[info.name] / info.rate_hz if fresh else None
                dev.push(info.name, samples, t0)
                self._fresh.discard(info.name)
            self._taken[info.name] += n

    def _reboot_if_due(self, sim_s: float) -> None:
        if self._down_until is not None and sim_s >= self._down_until:
            self._up()
        while self.device is not None and self._downtimes and self._downtimes[0][0] <= sim_s:
            _, until = self._downtimes.pop(0)
            self._down()
            self._down_until = until
            if sim_s >= until:
                self._up()

    def _down(self) -> None:
        assert self.device is not None
        self.device.close(timeout=0.0)  # a restart: the outbox keeps what was not acknowledged
        self._retire(self.device.stats())
        self.device = None
        self.reboots += 1

    def _up(self) -> None:
        self.device = self._open_device(self.source)
        self._down_until = None
        self._fresh = {s.name for s in self.source.sensors}
        self._battery_set = -1.0

    def _retire(self, stats: dict[str, Any]) -> None:
        for key in CUMULATIVE:
            self._retired[key] += int(stats.get(key, 0))
        self._last_stats = stats

    def stats(self) -> dict[str, Any]:
        """The live Device's stats with counters summed over reboots (``connected`` False while
        the device is down)."""
        if self.device is None:
            return {
                **self._last_stats,
                **self._retired,
                "connected": False,
                "reboots": self.reboots,
            }
        out = self.device.stats()
        for key in CUMULATIVE:
            out[key] = int(out.get(key, 0)) + self._retired[key]
        out["reboots"] = self.reboots
        return out

    def finish(self) -> None:
        """Bring a device that is down at the end back up, so that its outbox can drain."""
        if self.device is None:
            self._up()

    def flush(self, timeout: float) -> None:
        assert self.device is not None
        self.device.flush(timeout)

    def close(self) -> None:
        if self.device is not None:
            self.device.close(timeout=0.1)
