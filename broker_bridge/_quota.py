"""Per-device and per-tenant rate limits: token buckets, pure (the caller passes the clock).

Each device and each tenant has two buckets, messages and bytes; a message is admitted only
when every bucket that applies has room for it (one message, its payload's bytes), and then
takes from all of them — a refused message takes nothing, so a flood cannot drain its tenant's
buckets with messages that are not forwarded. A refused message is dead-lettered by the bridge
with reason ``rate_limited: <which limit>``; the device is not told its batch was stored, so it
sends the batch again later (nothing is lost, the flood is slowed).

Limits default to none; :class:`QuotaConfig` sets them for every device and tenant, with
per-tenant overrides. Bounds: at most ``max_devices`` device buckets are kept; past that the
least recently seen device's buckets are evicted (overflow policy: evict-LRU, which forgets
that device's debt — it starts again with full buckets).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

__all__ = ["Limit", "QuotaConfig", "Quotas", "TenantLimits", "TokenBucket"]


@dataclass(frozen=True, slots=True)
class Limit:
    """``rate`` per second, ``burst`` at most at once (default: one second's worth)."""

    rate: float
    burst: float = 0.0

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise ValueError(f"a rate limit must be > 0, got {self.rate}")
        if self.burst < 0:
            raise ValueError("burst must be >= 0")

    @property
    def capacity(self) -> float:
        return self.burst or self.rate


class TokenBucket:
    """Refills at ``limit.rate`` per second up to ``limit.capacity``; starts full."""

    __slots__ = ("_at", "_level", "limit")

    def __init__(self, limit: Limit, now: float) -> None:
        self.limit = limit
        self._level = limit.capacity
        self._at = now

    def has(self, amount: float, now: float) -> bool:
        """Refill to ``now``; whether ``amount`` is available (an amount larger than the
        capacity is allowed from a full bucket, else it could never pass)."""
        if now > self._at:
            self._level = min(self.limit.capacity, self._level + (now - self._at) * self.limit.rate)
            self._at = now
        return self._level >= min(amount, self.limit.capacity)

    def take(self, amount: float) -> None:
        self._level -= amount


@dataclass(frozen=True, slots=True)
class TenantLimits:
    """Limits for each device of a tenant and for the tenant as a whole (None: no limit)."""

    device_msgs: Limit | None = None
    device_bytes: Limit | None = None
    tenant_msgs: Limit | None = None
    tenant_bytes: Limit | None = None

    @property
    def any(self) -> bool:
        return any((self.device_msgs, self.device_bytes, self.tenant_msgs, self.tenant_bytes))


@dataclass(frozen=True, slots=True)
class QuotaConfig:
    default: TenantLimits = field(default_factory=TenantLimits)
    # Tenant id -> its limits, instead of ``default``.
    tenants: dict[str, TenantLimits] = field(default_factory=dict)
    max_devices: int = 100_000

    def limits(self, tenant: str) -> TenantLimits:
        return self.tenants.get(tenant, self.default)

    @property
    def enabled(self) -> bool:
        return self.default.any or any(t.any for t in self.tenants.values())


class Quotas:
    """The buckets of every device and tenant seen; :meth:`admit` decides one message."""

    def __init__(self, config: QuotaConfig) -> None:
        self.config = config
        self._devices: OrderedDict[tuple[str, str], list[TokenBucket | None]] = OrderedDict()
        self._tenants: dict[str, list[TokenBucket | None]] = {}
        self.limited = 0

    def _buckets(
        self, tenant: str, device: str, now: float
    ) -> tuple[list[TokenBucket | None], list[TokenBucket | None]]:
        lim = self.config.limits(tenant)
        key = (tenant, device)
        dev = self._devices.get(key)
        if dev is None:
            dev = [_bucket(lim.device_msgs, now), _bucket(lim.device_bytes, now)]
            self._devices[key] = dev
            if len(self._devices) > self.config.max_devices:
                self._devices.popitem(last=False)
        else:
            self._devices.move_to_end(key)
        ten = self._tenants.get(tenant)
        if ten is None:
            ten = self._tenants[tenant] = [
                _bucket(lim.tenant_msgs, now),
                _bucket(lim.tenant_bytes, now),
            ]
        return dev, ten

    def admit(self, tenant: str, device: str, nbytes: int, now: float) -> str | None:
        """None if the message may pass (and it is charged), else which limit it exceeds."""
        (dev_m, dev_b), (ten_m, ten_b) = self._buckets(tenant, device, now)
        checks = (
            (dev_m, 1, "device msgs/s"),
            (dev_b, nbytes, "device bytes/s"),
            (ten_m, 1, "tenant msgs/s"),
            (ten_b, nbytes, "tenant bytes/s"),
        )
        for bucket, amount, name in checks:
            if bucket is not None and not bucket.has(amount, now):
                self.limited += 1
                return name
        for bucket, amount, _ in checks:
            if bucket is not None:
                bucket.take(amount)
        return None


def _bucket(limit: Limit | None, now: float) -> TokenBucket | None:
    return TokenBucket(limit, now) if limit is not None else None
