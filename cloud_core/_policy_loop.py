"""The core's policy loop: the engine's rounds over fleet state, operators' overrides, and the
Policy commands that carry both down (through the Control hub, like every command).

Every ``period_s`` (:meth:`PolicyLoop.start`) a round counts what each device showed up to its
latest heartbeat (:func:`cloud_core._policy_store.fleet_round`), resolves the operators' pins
of its tenant, groups and own (:func:`cloud_core._policy_scopes.pins_for`), lets the
:class:`~cloud_core.PolicyEngine` decide, stores each changed device policy (the ``policies``
table: the state a restarted core takes up) and sends it. :meth:`PolicyLoop.set_policy` stores
an override and sends the devices it concerns their new policy at once. Run the periodic rounds
in one core of a deployment (``binhai core serve --policy-period 0`` in the others): the engine's
counts between decisions live in that core's memory.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import protos
from cloud_core._control import ControlHub, NoBridgeRoom
from cloud_core._errors import StorageError
from cloud_core._metrics import Metrics
from cloud_core._policy import PolicyChange, PolicyEngine, PolicyEngineConfig
from cloud_core._policy_scopes import (
    FIELD_RANGES,
    Override,
    PolicyError,
    Scope,
    check_fields,
    pins_for,
    policy_message,
)
from cloud_core._policy_store import (
    device_rows,
    device_version,
    fleet_round,
    save_device,
    set_override,
    tenant_devices,
    tenant_overrides,
)
from cloud_core._store import Store

__all__ = ["EffectivePolicy", "PolicyLoop"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EffectivePolicy:
    """A scope's policy: every field with its value and source, the scope's own pins, and for a
    device the version the cloud sent and the one its last health report ran."""

    fields: dict[str, tuple[float, str]]
    pinned: dict[str, float]
    version: int = 0
    device_version: int = 0

    def proto(self) -> protos.GetPolicyReply:
        return protos.GetPolicyReply(
            fields=[
                protos.PolicyField(name=n, value=v, source=src)
                for n, (v, src) in sorted(self.fields.items())
            ],
            pinned=[
                protos.PolicyField(name=n, value=v, source="operator")
                for n, v in sorted(self.pinned.items())
            ],
            version=self.version,
            device_version=self.device_version,
        )


class PolicyLoop:
    def __init__(
        self,
        store: Store,
        hub: ControlHub,
        config: PolicyEngineConfig | None = None,
        *,
        metrics: Metrics | None = None,
        default_threshold: float = 4.0,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        self.engine = PolicyEngine(config, default_threshold=default_threshold)
        self._store, self._hub = store, hub
        self._lock = asyncio.Lock()
        self._since: datetime | None = None
        self.supervisor = protos.Supervisor("policy loop", on_failure=on_failure)
        self._metrics = metrics or Metrics()

    async def start(self, *, rounds: bool = True) -> None:
        """Take up the stored device policies; run the periodic rounds if ``rounds``."""
        async with self._store.pool.connection() as conn:
            for row in await device_rows(conn):
                hb = row.fields.get("heartbeat_s", self.engine.config.heartbeat_s)
                self.engine.restore(
                    row.tenant,
                    row.device,
                    threshold=row.fields.get("novelty_threshold", self.engine.default_threshold),
                    version=row.version,
                    low_power=hb > self.engine.config.heartbeat_s,
                )
        if rounds and self.engine.config.period_s > 0:
            self.supervisor.spawn("rounds", self._rounds)

    async def close(self) -> None:
        await self.supervisor.close()

    async def _rounds(self) -> None:
        while True:
            await asyncio.sleep(self.engine.config.period_s)
            try:
                await self.round_once()
            except StorageError as exc:  # the writer reports the database's health; next round
                log.warning("policy round skipped: %s", exc)

    # -- the engine's rounds -------------------------------------------------------------------

    async def round_once(self) -> list[PolicyChange]:
        """One round now: count, decide, store and send; return the changes."""
        async with self._lock:
            async with self._store.pool.connection() as conn:
                cur = await conn.execute("SELECT now()")
                row = await cur.fetchone()
                assert row is not None
                now: datetime = row[0]
                since = self._since or now - timedelta(seconds=self.engine.config.period_s)
                seen = await fleet_round(conn, since)
                self._since = now
                overrides = _by_tenant(await tenant_overrides(conn))
                repinned = [
                    (r.tenant, r.device)
                    for r in seen
                    if self._pin(r.tenant, r.device, overrides.get(r.tenant, []))
                ]
                changes = self.engine.round(seen)
                done = {(c.tenant, c.device) for c in changes}
                changes += [
                    self.engine.bump(t, d, "operator override")
                    for t, d in repinned
                    if (t, d) not in done
                ]
                for c in changes:
                    await save_device(conn, c.tenant, c.device, c.fields, c.version)
            self._metrics.policy_rounds += 1
            for c in changes:
                log.info("policy %s/%s v%d: %s", c.tenant, c.device, c.version, c.reason)
                await self._send(c)
        return changes

    def _pin(self, tenant: str, device: str, overrides: Sequence[Override]) -> bool:
        pins = {n: v for n, (v, _src) in pins_for(device, overrides).items()}
        return self.engine.set_pins(tenant, device, pins)

    async def _send(self, c: PolicyChange) -> bool:
        cmd = protos.Command(policy=policy_message(c.fields, c.version))
        try:
            sent = await self._hub.send(c.tenant, c.device, cmd) > 0
        except (NoBridgeRoom, StorageError) as exc:
            log.warning("policy for %s/%s not sent: %s", c.tenant, c.device, exc)
            return False
        self._metrics.policy_commands += 1
        return sent

    # -- operators -----------------------------------------------------------------------------

    async def set_policy(
        self, tenant: str, scope: Scope, fields: dict[str, float], unpin: Sequence[str]
    ) -> int:
        """Pin ``fields`` (unpin ``unpin``) at ``scope``; send the devices concerned their new
        policy; return how many Policy commands were issued."""
        try:
            protos.check_id(tenant, "tenant")
        except protos.TopicError as exc:
            raise PolicyError(str(exc)) from exc
        fields = check_fields(fields)
        unknown = sorted(set(unpin) - set(FIELD_RANGES))
        if unknown:
            raise PolicyError(f"unknown policy field(s) to unpin: {', '.join(unknown)}")
        if not fields and not unpin:
            raise PolicyError("nothing to set: give fields to pin or to unpin")
        async with self._lock:
            async with self._store.pool.connection() as conn:
                await set_override(conn, tenant, scope, fields, unpin)
                overrides = [o for _t, o in await tenant_overrides(conn, tenant)]
                devices = [d for d in await tenant_devices(conn, tenant) if scope.applies(d)]
                if scope.kind == "device" and scope.key not in devices:
                    devices.append(scope.key)
                changes = [
                    self.engine.bump(tenant, d, f"operator {scope.label}")
                    for d in devices
                    if self._pin(tenant, d, overrides)
                ]
                for c in changes:
                    await save_device(conn, c.tenant, c.device, c.fields, c.version)
            for c in changes:
                await self._send(c)
        return len(changes)

    async def effective(self, tenant: str, scope: Scope) -> EffectivePolicy:
        """The policy in force at ``scope`` and where each field comes from."""
        async with self._store.pool.connection() as conn:
            overrides = [o for _t, o in await tenant_overrides(conn, tenant)]
            known = (tenant, scope.key) in set(self.engine.known())
            dev_version = 0
            if scope.kind == "device":
                dev_version = await device_version(conn, tenant, scope.key)
        own = next((dict(o.fields) for o in overrides if o.scope == scope), {})
        if scope.kind == "device":
            pins = pins_for(scope.key, overrides)
            engine = self.engine.fields(tenant, scope.key) if known else {}
            version = self.engine.state(tenant, scope.key).version if known else 0
        else:  # the tenant's pins, then the group's own
            layers = [o for o in overrides if o.scope.kind == "tenant"]
            layers += [o for o in overrides if o.scope == scope and o.scope.kind == "group"]
            pins = {
                n: (v, f"operator:{o.scope.label}") for o in layers for n, v in o.fields.items()
            }
            engine, version = {}, 0
        out: dict[str, tuple[float, str]] = {
            "novelty_threshold": (self.engine.default_threshold, "default")
        }
        out.update({n: (v, "engine") for n, v in engine.items()})
        out.update(pins)
        return EffectivePolicy(out, own, version, dev_version)


def _by_tenant(pairs: list[tuple[str, Override]]) -> dict[str, list[Override]]:
    out: dict[str, list[Override]] = {}
    for t, o in pairs:
        out.setdefault(t, []).append(o)
    return out
