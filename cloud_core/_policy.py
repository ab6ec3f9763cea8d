"""The policy engine: the cloud sets each device's policy from what the fleet shows. Pure.

Every ``period_s`` the core (and the simulator's in-process cloud) hands the engine what it saw
per device since the last round — windows (sent one by one plus those its summaries stand for),
windows flagged only as *novel* (no crisp screening flag: novelty is the knob that sets how
chatty a device is), uplink bytes, battery — and gets back the policy changes to send.

Rules, per device (each one a documented, bounded step):

* **flag rate**: the share of novel-only windows should stay near ``target_flag_rate``. Above
  twice the target the novelty threshold is multiplied by ``step`` (1.5); below half the target
  (with enough windows to tell) it is divided by ``step`` down to ``min_threshold``.
  A device that alarms on everything converges in a few rounds; one that says nothing learns
  to speak up when something changes.
* **battery**: below ``low_battery`` the device is told to spend half (its heartbeat period
  doubles, one raw window per episode); above ``low_battery + 0.1`` it returns to normal.
* **operator overrides** win: a field an operator set for the device, its group or its tenant
  (``binhai policy set``) is never changed by the engine.

Each change bumps the device's policy version; devices echo the version they run in their
health reports, so conformance (who runs what) is visible.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["DeviceRound", "PolicyChange", "PolicyEngine", "PolicyEngineConfig"]


@dataclass(frozen=True, slots=True)
class PolicyEngineConfig:
    period_s: float = 60.0
    target_flag_rate: float = 0.02
    step: float = 1.5
    min_threshold: float = 1.0
    max_threshold: float = 1000.0
    #: Windows a round needs before a low flag rate lowers the threshold.
    min_windows: int = 50
    low_battery: float = 0.2
    heartbeat_s: float = 300.0


@dataclass(frozen=True, slots=True)
class DeviceRound:
    """What one device showed in one round."""

    tenant: str
    device: str
    windows: int
    novel: int
    bytes_up: int = 0
    battery: float = -1.0


@dataclass(frozen=True, slots=True)
class PolicyChange:
    """Fields to set on one device (``None``: unchanged) and the new policy version."""

    tenant: str
    device: str
    version: int
    novelty_threshold: float | None = None
    heartbeat_s: float | None = None
    raw_per_episode: int | None = None
    reason: str = ""


@dataclass
class _State:
    threshold: float
    low_power: bool = False
    version: int = 0
    pinned: frozenset[str] = field(default_factory=frozenset)


class PolicyEngine:
    def __init__(
        self, config: PolicyEngineConfig | None = None, *, default_threshold: float = 4.0
    ) -> None:
        self.config = config or PolicyEngineConfig()
        self.default_threshold = default_threshold
        self._devices: dict[tuple[str, str], _State] = {}

    def state(self, tenant: str, device: str) -> _State:
        key = (tenant, device)
        st = self._devices.get(key)
        if st is None:
            st = self._devices[key] = _State(self.default_threshold)
        return st

    def pin(self, tenant: str, device: str, fields: frozenset[str], **values: float) -> None:
        """An operator set ``fields`` for this device: the engine leaves them alone."""
        st = self.state(tenant, device)
        st.pinned = st.pinned | fields
        if "novelty_threshold" in values:
            st.threshold = float(values["novelty_threshold"])

    def round(self, seen: list[DeviceRound]) -> list[PolicyChange]:
        """One round: the policy changes to send, per device that needs one."""
        cfg = self.config
        out = []
        for r in seen:
            st = self.state(r.tenant, r.device)
            threshold: float | None = None
            heartbeat: float | None = None
            raw_per_episode: int | None = None
            why = []
            if "novelty_threshold" not in st.pinned and r.windows > 0:
                rate = r.novel / r.windows
                new = st.threshold
                if rate > 2 * cfg.target_flag_rate:
                    new = min(cfg.max_threshold, st.threshold * cfg.step)
                elif rate < cfg.target_flag_rate / 2 and r.windows >= cfg.min_windows:
                    new = max(cfg.min_threshold, st.threshold / cfg.step)
                if new != st.threshold:
                    st.threshold = threshold = round(new, 4)
                    why.append(f"flag rate {rate:.3f}")
            if r.battery >= 0 and "heartbeat_s" not in st.pinned:
                recovering = st.low_power and r.battery < cfg.low_battery + 0.1
                low = r.battery < cfg.low_battery or recovering
                if low != st.low_power:
                    st.low_power = low
                    heartbeat = cfg.heartbeat_s * (2 if low else 1)
                    raw_per_episode = 1 if low else 2
                    why.append(f"battery {r.battery:.2f}")
            if why:
                st.version += 1
                reason = "; ".join(why)
                change = PolicyChange(
                    r.tenant, r.device, st.version, threshold, heartbeat, raw_per_episode, reason
                )
                out.append(change)
        return out
