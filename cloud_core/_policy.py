"""The policy engine: the cloud sets each device's policy from what the fleet shows. Pure.

Every ``period_s`` the core (and the simulator's in-process cloud) hands the engine what it saw
per device since the last round — windows (sent one by one plus those its summaries stand for),
windows flagged only as *novel* (no crisp screening flag: novelty is the knob that sets how
chatty a device is), uplink bytes, battery — and gets back the policy changes to send.

Rules, per device (each one a documented, bounded step):

* **flag rate**: the share of novel-only windows should stay near ``target_flag_rate``. A
  device's counts add up over rounds until they hold ``min_windows`` windows (a round of a
  quiet device holds too few to tell 1 % from 5 %), or earlier once its novel windows alone
  exceed what that many windows could hold within twice the target. Above twice the target the
  novelty threshold is multiplied by ``step`` (1.5) once per doubling of the target that the
  rate shows (``k = floor(log2(rate / target))``, at most ``max_steps``: a device that alarms
  on everything converges in a few rounds); below half the target it is divided by ``step``,
  one step a decision (novelty scores are heavy-tailed: stepping down fast overshoots), down
  to ``min_threshold`` — a device that says nothing learns to speak up when something changes.
  Only devices that run the synergy uplink (their health says so, or they sent a summary) are
  steered by it: the
  ``windows`` uplink's novelty threshold says which windows go RAW, not how chatty it is.
* **battery**: below ``low_battery`` the device is told to spend half (its heartbeat period
  doubles, one raw window per episode); above ``low_battery + 0.1`` it returns to normal
  (``heartbeat_s``, two raw windows per episode). A device whose battery never ran low is never
  sent these two fields: it keeps its own.
* **operator overrides** win: a field an operator set for the device, its group or its tenant
  (``binhai policy set``) is never changed by the engine (:meth:`PolicyEngine.set_pins`).

Each change bumps the device's policy version; devices echo the version they run in their
health reports, so conformance (who runs what) is visible. A device that reports an older
version than it was sent (it rebooted, or its session lost the command) gets its policy again,
once per version. A change carries every field the
device's policy has (the engine's and the pinned ones), so a device that missed an earlier
command catches up with the next.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["ENGINE_FIELDS", "DeviceRound", "PolicyChange", "PolicyEngine", "PolicyEngineConfig"]

#: The fields the engine sets (the others only an operator does).
ENGINE_FIELDS = ("novelty_threshold", "heartbeat_s", "raw_per_episode")


@dataclass(frozen=True, slots=True)
class PolicyEngineConfig:
    period_s: float = 60.0
    target_flag_rate: float = 0.02
    step: float = 1.5
    #: The rates within ``target / band .. target x band`` leave the threshold alone.
    band: float = 2.0
    #: Steps one round may take at most.
    max_steps: int = 3
    min_threshold: float = 1.0
    max_threshold: float = 1e6
    #: Windows a decision on the flag rate needs (counts add up over rounds until then).
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
    #: summaries the device sent (only the synergy uplink sends them)
    summaries: int = 0
    #: the policy version its latest health report says it runs (-1: unknown)
    policy_version: int = -1
    #: its uplink as its latest health report says ("": not reported)
    uplink: str = ""


@dataclass(frozen=True, slots=True)
class PolicyChange:
    """The device's whole policy after a change (field name -> value), its new version, why."""

    tenant: str
    device: str
    version: int
    fields: dict[str, float]
    reason: str = ""


@dataclass
class _State:
    threshold: float
    low_power: bool = False
    #: whether the battery rule ever set this device's heartbeat and raw windows per episode
    power_managed: bool = False
    version: int = 0
    #: whether the device ever sent a summary: the flag-rate rule steers synergy devices only
    synergy: bool = False
    #: windows and novel-only windows counted since the last decision on the flag rate
    windows: int = 0
    novel: int = 0
    #: the last version sent again to a device that reported an older one (once per version)
    resent: int = 0
    #: operator-set fields and their values (the engine leaves them alone)
    pins: dict[str, float] = field(default_factory=dict)

    @property
    def pinned(self) -> frozenset[str]:
        return frozenset(self.pins)


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

    def restore(
        self, tenant: str, device: str, *, threshold: float, version: int, low_power: bool
    ) -> None:
        """Take up a device's state saved earlier (the core restarting)."""
        st = self.state(tenant, device)
        st.threshold, st.version, st.low_power = threshold, version, low_power
        st.power_managed = low_power

    def set_pins(self, tenant: str, device: str, pins: dict[str, float]) -> bool:
        """The operator's fields for this device (its own, its groups' and its tenant's, resolved);
        True when they differ from the ones it had (the device needs a new policy)."""
        st = self.state(tenant, device)
        if pins == st.pins:
            return False
        st.pins = dict(pins)
        if "novelty_threshold" in pins:
            st.threshold = float(pins["novelty_threshold"])
        return True

    def _threshold(self, st: _State, r: DeviceRound) -> float | None:
        """The threshold after this round's counts, or None while they cannot tell yet."""
        cfg = self.config
        st.windows += r.windows
        st.novel += r.novel
        hi, lo = cfg.target_flag_rate * cfg.band, cfg.target_flag_rate / cfg.band
        if st.windows < cfg.min_windows and st.novel <= hi * cfg.min_windows:
            return None
        rate = st.novel / st.windows
        if rate > hi:
            k = _steps(rate / cfg.target_flag_rate, cfg.max_steps)
            return min(cfg.max_threshold, st.threshold * cfg.step**k)
        if rate < lo:
            return max(cfg.min_threshold, st.threshold / cfg.step)
        return st.threshold

    def fields(self, tenant: str, device: str) -> dict[str, float]:
        """The device's whole policy now: the engine's fields, then the pinned ones over them."""
        cfg, st = self.config, self.state(tenant, device)
        out: dict[str, float] = {"novelty_threshold": st.threshold}
        if st.power_managed:
            out["heartbeat_s"] = cfg.heartbeat_s * (2 if st.low_power else 1)
            out["raw_per_episode"] = 1 if st.low_power else 2
        out.update(st.pins)
        return out

    def bump(self, tenant: str, device: str, reason: str) -> PolicyChange:
        """A new version of the device's policy as it stands (after an operator's change)."""
        st = self.state(tenant, device)
        st.version += 1
        return PolicyChange(tenant, device, st.version, self.fields(tenant, device), reason)

    def known(self) -> list[tuple[str, str]]:
        """Every (tenant, device) the engine has a state for."""
        return list(self._devices)

    def round(self, seen: list[DeviceRound]) -> list[PolicyChange]:
        """One round: the policy changes to send, per device that needs one."""
        cfg = self.config
        out = []
        for r in seen:
            st = self.state(r.tenant, r.device)
            why = []
            st.synergy = st.synergy or r.summaries > 0 or r.uplink == "synergy"
            if st.synergy and "novelty_threshold" not in st.pinned and r.windows > 0:
                new = self._threshold(st, r)
                if new is not None and new != st.threshold:
                    why.append(f"flag rate {st.novel / st.windows:.3f}")
                    st.threshold = round(new, 4)
                if new is not None:
                    st.windows = st.novel = 0
            if r.battery >= 0 and "heartbeat_s" not in st.pinned:
                recovering = st.low_power and r.battery < cfg.low_battery + 0.1
                low = r.battery < cfg.low_battery or recovering
                if low != st.low_power:
                    st.power_managed = True
                    st.low_power = low
                    why.append(f"battery {r.battery:.2f}")
            if why:
                out.append(self.bump(r.tenant, r.device, "; ".join(why)))
            elif 0 <= r.policy_version < st.version and st.resent < st.version:
                # it missed the command (a reboot, a lost session): the same version again, once
                st.resent = st.version
                fields = self.fields(r.tenant, r.device)
                reason = f"device runs v{r.policy_version}"
                out.append(PolicyChange(r.tenant, r.device, st.version, fields, reason))
        return out


def _steps(ratio: float, most: int) -> int:
    """Steps for a rate ``ratio`` times off its target (> 2): one per doubling, at most ``most``."""
    return max(1, min(most, math.floor(math.log2(ratio))))
