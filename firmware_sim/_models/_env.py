"""A Pi-class environment board: temperature (°C) and relative humidity (%RH), 0.01 steps.

Temperature = mean (19-25 °C) + a daily cycle (amplitude 1.5-4 °C, warmest at 15:00 local time
— the phase comes from the scenario's ``start_hour`` and each board's ±0.5 h exposure) + a
weather wander (0.4 °C, period 2-6 h) + noise (0.02 °C). The air's dew point wanders slowly
(mean 6-12 °C below the mean temperature, ±0.8 °C over 3-8 h); relative humidity follows from
the Magnus formula, so it falls when the temperature rises (anti-correlated), + noise
(0.15 %RH), clipped to 0-100.

Event: ``overheat`` — the temperature ``magnitude`` °C higher (ramps as for machines), and the
relative humidity falls with it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from firmware_sim._catalog import SensorInfo
from firmware_sim._models._base import SensorModel, during, fsin, trapezoid
from firmware_sim._models._machine import OVERHEAT_RAMP
from firmware_sim._schedule import Injection

_A, _B = 17.62, 243.12  # Magnus coefficients over water (°C)


def relative_humidity(temp: np.ndarray, dew: np.ndarray) -> np.ndarray:
    return 100.0 * np.exp(_A * dew / (_B + dew) - _A * temp / (_B + temp))


class Climate(SensorModel):
    def __init__(
        self,
        info: SensorInfo,
        params: np.random.Generator,
        *,
        start_hour: float,
        injections: Sequence[Injection],
    ) -> None:
        self.mean = float(params.uniform(19, 25))
        self.daily = float(params.uniform(1.5, 4.0))
        self.hour0 = start_hour + float(params.uniform(-0.5, 0.5))
        self.weather = (
            2 * np.pi / params.uniform(7200, 21600),
            float(params.uniform(0, 2 * np.pi)),
        )
        self.dew_mean = self.mean - float(params.uniform(6, 12))
        self.dew_wander = (
            2 * np.pi / params.uniform(10800, 28800),
            float(params.uniform(0, 2 * np.pi)),
        )
        self.injections = tuple(injections)
        rh = float(relative_humidity(np.array(self.mean), np.array(self.dew_mean)))
        super().__init__(
            info,
            center=(self.mean, rh),
            spread=(max(1.0, 0.7 * self.daily), 5.0),
            noise_sd=(0.02, 0.15),
            lo=(-40.0, 0.0),
            hi=(125.0, 100.0),
        )

    def render(self, i0: int, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        hour = self.hour0 + t / 3600.0
        w, p = self.weather
        daily = fsin(2 * np.pi * (hour - 15.0) / 24.0 + np.pi / 2)  # cos: warmest at 15:00
        temp = self.mean + self.daily * daily + 0.4 * fsin(w * t + p)
        for sl, inj in during(t, self.injections, "overheat"):
            on, off = inj.label.t_on, inj.label.t_off
            temp[sl] += inj.magnitude * trapezoid(t[sl], on, off, OVERHEAT_RAMP * (off - on))
        w, p = self.dew_wander
        dew = self.dew_mean + 0.8 * fsin(w * t + p)
        out = np.empty((len(t), 2))
        out[:, 0] = temp + 0.02 * rng.standard_normal(len(t))
        out[:, 1] = np.clip(
            relative_humidity(temp, dew) + 0.15 * rng.standard_normal(len(t)), 0, 100
        )
        return out
