"""Sensor physics per device kind (wrist, machine, env, replay): :func:`build_models`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from firmware_sim._catalog import SensorInfo
from firmware_sim._models._base import SensorModel
from firmware_sim._models._env import Climate
from firmware_sim._models._machine import Machine, MachineTemp, MachineVib
from firmware_sim._models._replay import Replay
from firmware_sim._models._wrist import Wrist, WristAccel, WristPpg
from firmware_sim._schedule import Injection

__all__ = ["SensorModel", "build_models"]


def build_models(
    kind: str,
    sensors: Sequence[SensorInfo],
    *,
    key: tuple[int, ...],
    events: Sequence[Injection],
    start_hour: float,
    replay: tuple[np.ndarray, int] | None = None,
) -> dict[str, SensorModel]:
    """The models of one device. ``key`` seeds its parameters (and the wearer's timeline);
    ``events`` are its signal events; ``replay`` is (data, start row) for replay devices."""
    params = np.random.default_rng((*key, 0))
    info = {s.name: s for s in sensors}
    if kind == "wrist":
        wrist = Wrist(params, np.random.default_rng((*key, 1)), events)
        return {"accel": WristAccel(info["accel"], wrist), "ppg": WristPpg(info["ppg"], wrist)}
    if kind == "machine":
        machine = Machine(params, events)
        return {
            "vib": MachineVib(info["vib"], machine, params),
            "temp": MachineTemp(info["temp"], machine, params),
        }
    if kind == "env":
        return {
            "climate": Climate(info["climate"], params, start_hour=start_hour, injections=events)
        }
    if kind == "replay" and replay is not None:
        data, offset = replay
        return {"replay": Replay(info["replay"], data, offset)}
    raise ValueError(f"unknown device kind {kind!r}")
