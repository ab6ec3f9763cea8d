"""firmware_sim: simulated fleets of terminals with known ground truth, driving device_sdk.

Scenarios (docs/simulator.md) describe a fleet, its events and its faults::

    from firmware_sim import build_fleet, load_scenario

    fleet = build_fleet(load_scenario("mixed"))       # deterministic in (scenario, seed)
    dev = fleet[0]
    chunk = dev.take("accel", 500)                    # (500, 3) float32, m/s², quantised
    truth = [lab for d in fleet for lab in d.labels]  # what happened, where and when

:class:`Fleet` with :class:`FleetConfig` streams simulated devices through the real SDK (and so
the real broker, bridge and core); :class:`AccelModel` is the original accelerometer physics.
"""

from firmware_sim._catalog import (
    DEVICE_FAULT_KINDS,
    DEVICE_KINDS,
    DEVICE_SENSORS,
    EVENT_KINDS,
    NETWORK_PROFILES,
    SENSOR_FAULT_KINDS,
    Label,
    NetworkProfile,
    SensorInfo,
)
from firmware_sim._errors import ScenarioError, SimError
from firmware_sim._fleet import SENSOR, Fleet, FleetConfig, FleetReport, Progress, device_ids
from firmware_sim._fleetspec import SimDevice, build_fleet
from firmware_sim._policies import BUDGETED, POLICIES, PolicyParams, make_decider
from firmware_sim._scenario import (
    DeviceGroup,
    InjectionSpec,
    Scenario,
    load_scenario,
    shipped_scenarios,
)
from firmware_sim._score import AlertRow, Delivery, score
from firmware_sim._signals import ACTIVITIES, ADC_STEP, AccelModel, Segment

__all__ = [
    "ACTIVITIES",
    "ADC_STEP",
    "BUDGETED",
    "DEVICE_FAULT_KINDS",
    "DEVICE_KINDS",
    "DEVICE_SENSORS",
    "EVENT_KINDS",
    "NETWORK_PROFILES",
    "POLICIES",
    "SENSOR",
    "SENSOR_FAULT_KINDS",
    "AccelModel",
    "AlertRow",
    "Delivery",
    "DeviceGroup",
    "Fleet",
    "FleetConfig",
    "FleetReport",
    "InjectionSpec",
    "Label",
    "NetworkProfile",
    "PolicyParams",
    "Progress",
    "Scenario",
    "ScenarioError",
    "Segment",
    "SensorInfo",
    "SimDevice",
    "SimError",
    "build_fleet",
    "device_ids",
    "load_scenario",
    "make_decider",
    "score",
    "shipped_scenarios",
]
