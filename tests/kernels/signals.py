"""Seeded test signals: random, edge cases and recorded-like sensor traces."""

from __future__ import annotations

import numpy as np

FS = 50.0


def walking_accel(n: int, seed: int = 0, fs: float = FS, cadence: float = 1.8) -> np.ndarray:
    """3-axis accelerometer (m/s², (n, 3) float32) of someone walking, ADC-quantised."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fs
    z = 9.81 + 2.5 * np.sin(2 * np.pi * cadence * t) + 0.8 * np.sin(4 * np.pi * cadence * t + 1)
    acc = np.stack(
        [
            0.6 * np.sin(2 * np.pi * cadence / 2 * t) + 0.3 * rng.standard_normal(n),
            0.3 * rng.standard_normal(n),
            z + 0.3 * rng.standard_normal(n),
        ],
        axis=1,
    )
    lsb = np.float32(2 * 9.80665 / 32768)  # +-2 g, 16-bit ADC
    return (np.round(acc / lsb) * lsb).astype(np.float32)


def ppg(n: int, bpm: float = 72.0, seed: int = 0, fs: float = FS) -> np.ndarray:
    """PPG-like pulse wave with baseline wander and noise, float32 (n,)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fs
    f = bpm / 60.0
    x = np.sin(2 * np.pi * f * t) + 0.35 * np.sin(4 * np.pi * f * t + 0.6)
    x += 0.5 * np.sin(2 * np.pi * 0.15 * t) + 0.25 * rng.standard_normal(n)
    return x.astype(np.float32)


def temperature_log(n: int, seed: int = 0) -> np.ndarray:
    """Temperature logged with two decimals (°C), float32 (n,)."""
    rng = np.random.default_rng(seed)
    return np.round(21.5 + np.cumsum(rng.standard_normal(n)) * 0.02, 2).astype(np.float32)


def power_readings(n: int, seed: int = 0) -> np.ndarray:
    """z-normalised power readings printed to 8 significant digits, float32 (n,): four
    interleaved meter readings in steps of 0.01 W (ACS-F1-like), one of them wandering."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    base = np.array([1200, 4, 230000, 60])[t % 4]
    walk = np.cumsum(rng.integers(-150, 151, n) * (t % 4 == 2))
    p = (base + walk + (t % 4 == 0) * rng.integers(0, 3, n) * 104) * 0.01
    z = (p - p.mean()) / p.std()
    return np.array([f"{v:.8g}" for v in z], dtype=np.float64).astype(np.float32)


def calibrated_adc(n: int, seed: int = 1) -> np.ndarray:
    """ADC counts times a gain plus an offset (float64, then float32), (n,): a grid that no
    decimal exponent or scale without offset reproduces."""
    rng = np.random.default_rng(seed)
    counts = np.round(2000 + np.cumsum(rng.standard_normal(n)) * 3)
    return (counts * 0.0123456789 - 17.3).astype(np.float32)


def edge_windows() -> dict[str, np.ndarray]:
    """Edge-case windows (float64 unless stated)."""
    rng = np.random.default_rng(7)
    out: dict[str, np.ndarray] = {
        "len1": np.array([3.5]),
        "len2": np.array([1.0, -2.0]),
        "len3": np.array([0.0, 1.0, 0.0]),
        "odd255": rng.standard_normal(255),
        "prime97": rng.standard_normal(97),
        "n100": rng.standard_normal(100),
        "constant": np.full(64, 0.1),
        "constant32": np.full(256, 0.1, dtype=np.float32),
        "zeros": np.zeros(16),
        "pure_tone": np.sin(2 * np.pi * 8 * np.arange(256) / 256),
        "step": np.r_[np.zeros(128), np.ones(128)],
        "huge": rng.standard_normal(64) * 1e30,
        "tiny": rng.standard_normal(64) * 1e-30,
    }
    return out
