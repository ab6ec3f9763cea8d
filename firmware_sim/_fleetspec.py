"""A scenario's devices: :func:`build_fleet` turns a :class:`Scenario` into :class:`SimDevice` s.

Seeds: device ``i`` of a scenario draws its parameters from (seed, 0, i), the noise of its
sensor ``s`` from (seed, 0, i, 10 + s), and every event or fault from the RNG of its own entry
(see :mod:`._schedule`), so nothing depends on the order in which streams are read.
"""

from __future__ import annotations

import numpy as np

from firmware_sim._catalog import NETWORK_PROFILES, Label, NetworkProfile, SensorInfo
from firmware_sim._faults import DeviceSchedule
from firmware_sim._models import build_models
from firmware_sim._scenario import Scenario
from firmware_sim._schedule import Injection, schedule
from firmware_sim._stream import Stream


class SimDevice:
    """One simulated device: its sensors' streams, its ground truth and its fault schedule.

    ``take(sensor, n)`` returns the sensor's next ``n`` samples, (n, channels) float32,
    quantised, events and sensor faults applied; the same samples however the calls are split.
    ``labels`` lists every event and fault of the device, sorted by ``t_on``. Device and
    network faults change no sample: ``online_at``, ``reboots``, ``clock_skew_s`` and
    ``battery_at`` say what the runner should do and when.
    """

    def __init__(
        self,
        *,
        device_id: str,
        kind: str,
        group: int,
        sensors: tuple[SensorInfo, ...],
        network: NetworkProfile,
        injections: list[Injection],
        streams: dict[str, Stream],
        schedule: DeviceSchedule,
    ) -> None:
        self.device_id = device_id
        self.kind = kind
        self.group = group
        self.sensors = sensors
        self.network = network
        self.labels: tuple[Label, ...] = tuple(j.label for j in injections)
        self._streams = streams
        self._schedule = schedule

    def __repr__(self) -> str:
        return f"SimDevice({self.device_id!r}, kind={self.kind!r}, labels={len(self.labels)})"

    def sensor(self, name: str) -> SensorInfo:
        return self._stream(name).info

    def take(self, sensor: str, n: int) -> np.ndarray:
        """The next ``n`` samples of ``sensor``: (n, channels) float32 (NaN in dropouts)."""
        return self._stream(sensor).take(n)

    def taken(self, sensor: str) -> int:
        """How many samples of ``sensor`` have been taken (the next one is at taken / rate s)."""
        return self._stream(sensor).taken

    def activity_at(self, t_s: float) -> str:
        """The wearer's activity at ``t_s`` (idle, walking, running) for wrist devices, else
        ``""``; falls and tremor are events on top of it."""
        return self._stream(self.sensors[0].name).model.activity_at(t_s)

    def battery_at(self, t_s: float) -> float:
        """Battery level 0..1 at ``t_s``: the kind's drain, ``battery_drain`` faults included."""
        return self._schedule.battery_at(t_s)

    def online_at(self, t_s: float) -> bool:
        """False during partitions, reboots and reconnect-storm drops."""
        return self._schedule.online_at(t_s)

    def reboots(self) -> tuple[float, ...]:
        """Times (s) at which the device restarts from its outbox."""
        return self._schedule.reboots()

    def clock_skew_s(self, t_s: float) -> float:
        """Error of the device's wall clock at ``t_s`` (seconds; 0 without ``clock_skew``)."""
        return self._schedule.clock_skew_s(t_s)

    def _stream(self, name: str) -> Stream:
        try:
            return self._streams[name]
        except KeyError:
            names = ", ".join(self._streams)
            raise KeyError(f"{self.device_id} has no sensor {name!r} (it has {names})") from None


def build_fleet(scenario: Scenario) -> list[SimDevice]:
    """Every device of ``scenario``, deterministic in (scenario, seed)."""
    devices = scenario.device_ids()
    sensors = {d: scenario.devices[g].sensors() for d, _, g in devices}
    drawn = schedule(scenario)
    out = []
    in_group = [0] * len(scenario.devices)
    for index, (dev, kind, gi) in enumerate(devices):
        group = scenario.devices[gi]
        injections = drawn[dev]
        replay = None
        if group.data is not None:
            replay = (group.data, in_group[gi] * len(group.data) // group.count)
        in_group[gi] += 1
        key = (scenario.seed, 0, index)
        models = build_models(
            kind,
            sensors[dev],
            key=key,
            events=[j for j in injections if j.label.category == "event"],
            start_hour=scenario.start_hour,
            replay=replay,
        )
        streams = {
            s.name: Stream(
                models[s.name],
                [
                    j
                    for j in injections
                    if j.label.category == "sensor_fault" and j.label.sensor == s.name
                ],
                (*key, 10 + si),
            )
            for si, s in enumerate(sensors[dev])
        }
        out.append(
            SimDevice(
                device_id=dev,
                kind=kind,
                group=gi,
                sensors=sensors[dev],
                network=NETWORK_PROFILES[group.network],
                injections=injections,
                streams=streams,
                schedule=DeviceSchedule(kind, group.battery, injections),
            )
        )
    return out
