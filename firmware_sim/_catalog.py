"""What a scenario may name: device kinds and their sensors, event and fault kinds, networks.

Everything here is a constant table; the scenario validator, the schedule and the models read
it, and docs/simulator.md documents it (a test keeps the two in step).
"""

from __future__ import annotations

from dataclasses import dataclass

G = 9.80665  # m/s² per g
ACCEL_STEP = 16 * G / 32768  # m/s² per LSB of a ±16 g, 16-bit accelerometer


@dataclass(frozen=True, slots=True)
class SensorInfo:
    """One sensor stream of a simulated device.

    ``rate_hz`` samples per second (for replays: the recorded rate × ``speed``), ``channels``
    values per sample, ``window`` samples per SDK window, ``unit`` of the values, ``adc_step``
    the quantisation step in that unit (0: not quantised, values as recorded).
    """

    name: str
    rate_hz: float
    channels: int
    window: int
    unit: str
    adc_step: float


@dataclass(frozen=True, slots=True)
class Label:
    """Ground truth: ``kind`` happened on ``device``/``sensor`` from ``t_on`` to ``t_off``.

    Times are seconds from the scenario start; ``t_off`` is when the signal (or the device) is
    back to normal. ``category`` is ``"event"``, ``"sensor_fault"`` or ``"device_fault"``;
    ``sensor`` is ``""`` for device faults.
    """

    device: str
    sensor: str
    kind: str
    category: str
    t_on: float
    t_off: float


@dataclass(frozen=True, slots=True)
class NetworkProfile:
    """An uplink: one-way ``latency_s``, ``cost_per_mb`` (currency units per 10⁶ bytes) and
    ``uplink_bytes_per_s``."""

    name: str
    latency_s: float
    cost_per_mb: float
    uplink_bytes_per_s: float


NETWORK_PROFILES: dict[str, NetworkProfile] = {
    p.name: p
    for p in (
        NetworkProfile("ethernet", 0.002, 0.0, 12_500_000.0),
        NetworkProfile("wifi", 0.015, 0.0, 2_500_000.0),
        NetworkProfile("lte", 0.06, 0.01, 1_250_000.0),
        NetworkProfile("nbiot", 2.0, 1.0, 4_000.0),
    )
}

# Device kinds: their sensors (the first is the primary one, whose rate a group's rate_hz sets),
# the network they use unless the group says otherwise, and the battery drain per hour.
DEVICE_SENSORS: dict[str, tuple[SensorInfo, ...]] = {
    "wrist": (
        SensorInfo("accel", 50.0, 3, 128, "m/s^2", ACCEL_STEP),
        SensorInfo("ppg", 25.0, 1, 128, "counts", 1.0),
    ),
    "machine": (
        SensorInfo("vib", 512.0, 3, 256, "m/s^2", ACCEL_STEP),
        SensorInfo("temp", 1.0, 1, 64, "degC", 0.0625),
    ),
    "env": (SensorInfo("climate", 1.0, 2, 60, "degC,%RH", 0.01),),
    # rate and channels come from the group and its file
    "replay": (SensorInfo("replay", 0.0, 0, 128, "", 0.0),),
}
DEVICE_KINDS = tuple(DEVICE_SENSORS)
DEFAULT_NETWORK = {"wrist": "lte", "machine": "ethernet", "env": "wifi", "replay": "wifi"}
DRAIN_PER_HOUR = {"wrist": 0.05, "machine": 0.02, "env": 0.08, "replay": 0.05}

EVENT = "event"
SENSOR_FAULT = "sensor_fault"
DEVICE_FAULT = "device_fault"


@dataclass(frozen=True, slots=True)
class Kind:
    """An event or fault kind.

    ``targets`` maps a device kind to the sensor the kind changes (sensor faults: every sensor,
    ``{}``; device faults: no sensor). ``duration`` is the range drawn when an entry gives no
    ``duration_s``: seconds, or — for sensor faults — windows of the target sensor (at least
    ``MIN_FAULT_S``). ``magnitude`` is the range drawn when an entry gives none (``None``: the
    kind takes no magnitude); ``magnitude_doc`` says what it means.
    """

    name: str
    category: str
    targets: dict[str, str]
    duration: tuple[float, float]
    magnitude: tuple[float, float] | None
    magnitude_doc: str


MIN_FAULT_S = 3.0

KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("fall", EVENT, {"wrist": "accel"}, (20, 90), (4, 8), "peak impact, g"),
        Kind("tremor", EVENT, {"wrist": "accel"}, (15, 60), (1.5, 4), "amplitude, m/s²"),
        Kind("arrhythmia", EVENT, {"wrist": "ppg"}, (30, 180), (40, 80), "heart-rate jump, bpm"),
        Kind(
            "bearing_fault",
            EVENT,
            {"machine": "vib"},
            (120, 600),
            (0.8, 2.5),
            "final amplitude of the BPFO line, m/s²",
        ),
        Kind(
            "overheat",
            EVENT,
            {"machine": "temp", "env": "climate"},
            (300, 900),
            (10, 30),
            "temperature rise, °C",
        ),
        Kind("stuck", SENSOR_FAULT, {}, (3, 10), None, ""),
        Kind("drift", SENSOR_FAULT, {}, (6, 20), (4, 8), "final offset, × the sensor's spread"),
        Kind("spike", SENSOR_FAULT, {}, (1, 3), (6, 12), "spike height, × the sensor's spread"),
        Kind("dropout", SENSOR_FAULT, {}, (2, 8), None, ""),
        Kind("clipping", SENSOR_FAULT, {}, (3, 10), (2, 4), "gain error before the rails"),
        Kind("noise_burst", SENSOR_FAULT, {}, (2, 8), (10, 30), "noise factor"),
        Kind("reboot", DEVICE_FAULT, {}, (5, 30), None, ""),
        Kind("partition", DEVICE_FAULT, {}, (30, 300), None, ""),
        Kind("clock_skew", DEVICE_FAULT, {}, (0, 0), (2, 120), "clock error, s (signed)"),
        Kind("battery_drain", DEVICE_FAULT, {}, (120, 600), (10, 30), "drain factor"),
        Kind("reconnect_storm", DEVICE_FAULT, {}, (5, 5), None, ""),
    )
}
EVENT_KINDS = tuple(k for k, v in KINDS.items() if v.category == EVENT)
SENSOR_FAULT_KINDS = tuple(k for k, v in KINDS.items() if v.category == SENSOR_FAULT)
DEVICE_FAULT_KINDS = tuple(k for k, v in KINDS.items() if v.category == DEVICE_FAULT)


def sensors_of(kind: str) -> tuple[str, ...]:
    return tuple(s.name for s in DEVICE_SENSORS[kind])


def applies_to(kind: Kind, device_kind: str) -> bool:
    """Whether ``kind`` can happen on a device of ``device_kind``."""
    return kind.category != EVENT or device_kind in kind.targets
