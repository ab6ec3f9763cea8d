"""A machine's temperature against what its load explains (``kernels._thermal``, and ``LEVEL`` on
``temp`` in :class:`kernels.DeviceScreen`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import kernels
from firmware_sim import build_fleet, load_scenario
from kernels import _screen as scr
from kernels._thermal import ThermalWatch

VIB_S, TEMP_S = 0.5, 64.0
NS = 1_000_000_000


def _machine(seconds: float, rng: np.random.Generator, tau: float = 500.0) -> tuple:
    """Vibration energies every 0.5 s and temperatures every 1 s of a machine whose load
    wanders (two sinusoids), whose housing lags it by ``tau`` s and whose probe reads 0.03 °C
    noise in 0.0625 °C steps."""
    t = np.arange(0.0, seconds, VIB_S)
    load = 0.5 + 0.3 * np.sin(2 * np.pi * t / 1500) + 0.15 * np.sin(2 * np.pi * t / 260 + 1.0)
    energy = 4.0 * (0.6 + 0.8 * load) ** 2 + 3 * 0.25**2
    energy *= 1 + 0.03 * rng.standard_normal(len(t))  # a 0.5 s window's own spread
    lagged = np.empty_like(load)
    acc, a = load[0], 1 - np.exp(-VIB_S / tau)
    for i, v in enumerate(load):
        acc += a * (v - acc)
        lagged[i] = acc
    temp = 24.0 + 25.0 * lagged[::2] + 0.03 * rng.standard_normal(len(lagged[::2]))
    return energy, np.round(temp / 0.0625) * 0.0625


def _watch(
    energy: np.ndarray,
    temp: np.ndarray,
    *,
    drift: tuple[float, float] = (np.inf, 0.0),
    held: tuple[float, float] = (np.inf, np.inf),
    watch: ThermalWatch | None = None,
) -> tuple[list[float | None], list[bool]]:
    """Runs a watch (a default one unless given) over a machine: ``drift`` = (onset s, °C a
    second) added to the probe, ``held`` = (from, to) s over which every vibration window is
    flagged. Returns each temperature window's z and whether the watch flagged it."""
    w = watch or ThermalWatch()
    per = int(TEMP_S / VIB_S)
    zs: list[float | None] = []
    flags: list[bool] = []
    for k in range(len(temp) // int(TEMP_S)):
        for i in range(k * per, (k + 1) * per):
            t0 = i * VIB_S
            ordinary = not held[0] <= t0 < held[1]
            w.load(int(t0 * NS), int((t0 + VIB_S) * NS), float(energy[i]), ordinary)
        t = np.arange(k * TEMP_S, (k + 1) * TEMP_S)
        mean = float((temp[k * 64 : (k + 1) * 64] + np.maximum(t - drift[0], 0) * drift[1]).mean())
        x = w.regressors(int(k * TEMP_S * NS), int((k + 1) * TEMP_S * NS))
        z = w.check(x, mean)
        zs.append(z)
        flags.append(w.flagged(z))
        w.learn(x, mean, z, others=False)
    return zs, flags


def test_a_machines_temperature_that_its_load_explains_is_never_flagged() -> None:
    for seed in range(4):
        energy, temp = _machine(5400.0, np.random.default_rng(seed), tau=300.0 + 200 * seed)
        zs, flags = _watch(energy, temp)
        assert not any(flags), [round(z, 1) for z in zs if z is not None]
        # it judges once ten ordinary windows trained it (and three settled the start)
        assert all(z is None for z in zs[:13]) and all(z is not None for z in zs[15:])


def test_a_probe_drifting_is_flagged_within_two_windows_of_its_onset() -> None:
    energy, temp = _machine(4000.0, np.random.default_rng(7))
    onset = 2000.0 + 17.0  # 17 s into window 31
    _, flags = _watch(energy, temp, drift=(onset, 0.008))  # 8 °C over 1,000 s
    first = flags.index(True)
    assert first in (31, 32)
    assert not any(flags[:31])
    # the plain level checks of a temperature wait until the offset leaves the load's swing
    screen = scr.Screen(1, scr.profile_for("temp"), rate_hz=1.0)
    plain = None
    for k in range(len(temp) // 64):
        t = np.arange(k * 64.0, (k + 1) * 64.0)
        x = (temp[k * 64 : (k + 1) * 64] + np.maximum(t - onset, 0) * 0.008).reshape(1, -1)
        f = kernels.window_features(x[0].astype(np.float32), 1.0)
        if screen.flags(f, x) & scr.LEVEL and k >= 31 and plain is None:
            plain = k
    assert plain is None or plain >= first + 3, (first, plain)


def test_after_a_gap_in_the_load_the_watch_judges_again_within_minutes() -> None:
    # eight minutes of flagged vibration (a bearing's line, say), windows 23.4 to 30.9: the lags
    # hold still over them and miss the load meanwhile; the vibration after it begins a new
    # segment whose start column absorbs the miss, and two windows train it
    for seed in range(4):
        energy, temp = _machine(5400.0, np.random.default_rng(seed), tau=300.0 + 150 * seed)
        zs, flags = _watch(energy, temp, held=(1500.0, 1980.0))
        assert not any(flags), [None if z is None else round(z, 1) for z in zs]
        assert zs[22] is not None and all(z is None for z in zs[23:33])
        assert all(z is not None for z in zs[33:])
        # a probe drifting from 17 s into window 36 is flagged by window 37
        _, flags = _watch(energy, temp, held=(1500.0, 1980.0), drift=(2317.0, 0.008))
        assert flags.index(True) == 37
    # the lags alone, without a segment of their own after the gap, are far off for ~4 τ
    energy, temp = _machine(5400.0, np.random.default_rng(0))
    w = ThermalWatch(kernels.ThermalConfig(gap_s=float("inf")))
    _, flags = _watch(energy, temp, held=(1500.0, 1980.0), watch=w)
    assert sum(flags) >= 4


def test_a_fit_that_learnt_an_offset_starts_over() -> None:
    energy, temp = _machine(5400.0, np.random.default_rng(11))
    # the probe reads 3 °C high from the start, then right from window 30 on: the watch learnt
    # the offset, so the right readings look 3 °C low to it — it flags them until it sees
    # the offset hold steady for four windows, starts over, and flags nothing after
    fixed = temp + np.where(np.arange(len(temp)) < 30 * 64, 3.0, 0.0)
    _, flags = _watch(energy, fixed)
    assert flags[30] and flags[31]
    assert sum(flags) <= 5 and not any(flags[36:])


def test_the_device_screen_flags_a_simulated_machines_drifting_probe_early(
    tmp_path: Path,
) -> None:
    """End to end on the simulator's machine (vibration features, the screen's own checks)."""
    at_s = 1500.0
    (tmp_path / "one.toml").write_text(
        f"""
        name = "one machine"
        seed = 4
        duration_s = 2400
        [[devices]]
        kind = "machine"
        count = 1
        [[faults]]
        kind = "drift"
        sensor = "temp"
        at_s = {at_s}
        duration_s = 800
        magnitude = 5
        """
    )
    dev = build_fleet(load_scenario(tmp_path / "one.toml"))[0]
    vib = dev.take("vib", 2400 * 512)
    temp = dev.take("temp", 2400)
    vf = np.stack(
        [
            kernels.window_features_batch(np.ascontiguousarray(vib[:, c].reshape(-1, 256)), 512.0)
            for c in range(3)
        ],
        axis=1,
    )

    def first_level(config: kernels.ScreenConfig, vib_samples: bool = True) -> int | None:
        ds = kernels.DeviceScreen(config)
        per = int(TEMP_S / VIB_S)
        for k in range(2400 // 64):
            for i in range(k * per, (k + 1) * per):
                x = np.ascontiguousarray(vib[i * 256 : (i + 1) * 256].T)
                ds.screen(
                    "vib",
                    int(i * VIB_S * NS),
                    512.0,
                    256,
                    vf[i].ravel(),
                    x if vib_samples else None,
                )
            x = temp[k * 64 : (k + 1) * 64].T
            f = kernels.window_features(np.ascontiguousarray(x[0]), 1.0)
            if ds.screen("temp", int(k * TEMP_S * NS), 1.0, 64, f, x).flags & scr.LEVEL:
                return k
        return None

    onset = int(at_s // TEMP_S)
    assert first_level(kernels.ScreenConfig()) in (onset, onset + 1)
    # the temperature's own checks alone: several windows later
    plain = first_level(kernels.ScreenConfig(thermal=kernels.ThermalConfig(z=float("inf"))))
    assert plain is None or plain >= onset + 3, plain
    # vibration features without samples (a cloud sent features only): no line check ran, so
    # an unflagged bearing's line could pass for load — the watch does not judge
    assert first_level(kernels.ScreenConfig(), vib_samples=False) == plain
