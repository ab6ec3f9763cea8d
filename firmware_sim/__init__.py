"""firmware_sim: simulated fleets of terminals with known ground truth, driving device_sdk.

Public API: :class:`Fleet` with :class:`FleetConfig` runs N simulated devices through the real
SDK (and so the real broker, bridge and core); :class:`AccelModel` is the sensor physics.
"""

from firmware_sim._fleet import SENSOR, Fleet, FleetConfig, FleetReport, Progress
from firmware_sim._signals import ACTIVITIES, ADC_STEP, AccelModel, Segment

__all__ = [
    "ACTIVITIES",
    "ADC_STEP",
    "SENSOR",
    "AccelModel",
    "Fleet",
    "FleetConfig",
    "FleetReport",
    "Progress",
    "Segment",
]
