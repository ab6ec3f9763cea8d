"""Small frozen configuration objects of the device SDK, with their documented defaults."""

from __future__ import annotations

from dataclasses import dataclass

from device_sdk._errors import ConfigError


@dataclass(frozen=True, slots=True)
class SensorSpec:
    """One sensor stream: ``channels`` values per sample at ``rate_hz``.

    Windows hold ``window`` samples per channel and start every ``hop`` samples
    (default ``window // 2``: 50 % overlap).
    """

    name: str
    rate_hz: float
    channels: int = 1
    window: int = 256
    hop: int = 0

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > 64 or not self.name.isprintable():
            raise ConfigError(f"bad sensor name {self.name!r}")
        if not (self.rate_hz > 0 and self.rate_hz < 1e6):
            raise ConfigError(
                f"sensor {self.name}: rate_hz must be in (0, 1e6), got {self.rate_hz}"
            )
        if not 1 <= self.channels <= 64:
            raise ConfigError(f"sensor {self.name}: channels must be 1..64")
        if not 2 <= self.window <= 65536:
            raise ConfigError(f"sensor {self.name}: window must be 2..65536")
        hop = self.hop or max(1, self.window // 2)
        if not 1 <= hop <= self.window:
            raise ConfigError(f"sensor {self.name}: hop must be 1..window")
        object.__setattr__(self, "hop", hop)


@dataclass(frozen=True, slots=True)
class BatchPolicy:
    """When a batch is closed: ``max_windows`` windows, ``max_bytes`` encoded, or ``max_age_s``."""

    max_windows: int = 16
    max_bytes: int = 64 * 1024
    max_age_s: float = 1.0


@dataclass(frozen=True, slots=True)
class OutboxLimits:
    """The outbox holds at most ``max_bytes`` of batches (default 64 MiB), then evicts.

    ``raw_cache_bytes`` (default 8 MiB; 0 disables) bounds the cache of recent raw windows kept
    for ``SendRaw`` commands: at 50 Hz x 3 axes, windows of 128 with 50 % overlap, about 1.2 KB/s,
    so 8 MiB holds the last ~2 hours. Oldest windows are dropped first.
    """

    max_bytes: int = 64 * 1024 * 1024
    raw_cache_bytes: int = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Budget:
    """Uplink budget as a token bucket: ``bytes_per_s`` refill, ``burst_bytes`` capacity."""

    bytes_per_s: float = 64 * 1024
    burst_bytes: float = 512 * 1024
