"""The Control service: commands to devices, through whichever bridges are connected.

Bridges keep a ``Downlinks`` stream open to every core. A command is first stored (the
``commands`` table), then handed to *one* connected bridge, round robin — every bridge reaches
the whole broker (cluster), so handing it to more would deliver it several times — and marked
sent. With no bridge connected the command stays stored unsent and the reply says
``bridges=0``; the caller decides whether to retry.

Each bridge has a bounded queue (``queue_size``); a command waits up to ``put_timeout`` seconds
for room on the chosen bridge, then tries the next one, and fails with RESOURCE_EXHAUSTED when
none has room (backpressure to the caller, nothing dropped). When a device comes online the core
sends it a TimeSync (its ``issued_at_ns`` is the cloud clock); those go through a bounded queue
whose overflow policy is drop-newest with accounting (``time_syncs_dropped``): a time sync is
advisory and the device gets one on its next reconnect.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc
import psycopg

import protos
from cloud_core._errors import StorageError
from cloud_core._metrics import Metrics
from cloud_core._policy_scopes import PolicyError, Scope, ScopeKind
from cloud_core._store import Store

if TYPE_CHECKING:
    from cloud_core._policy_loop import PolicyLoop

__all__ = ["CONTROL_SERVICE", "ControlHub", "ControlServicer", "NoBridgeRoom"]

log = logging.getLogger(__name__)

CONTROL_SERVICE = "binhai.v1.Control"

_INSERT = """
INSERT INTO commands (id, tenant, device_id, kind, body) VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (id) DO NOTHING
"""
_MARK_SENT = "UPDATE commands SET sent_at = now() WHERE id = %s"


class NoBridgeRoom(Exception):
    """Every connected bridge's downlink queue stayed full for the whole wait."""


@dataclass(eq=False)
class _Bridge:
    name: str
    queue: asyncio.Queue[protos.Downlink | None]


class ControlHub:
    """Stores commands and hands them to connected bridges."""

    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        *,
        queue_size: int = 1000,
        put_timeout: float = 5.0,
        time_sync_queue: int = 10_000,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._queue_size = queue_size
        self._put_timeout = put_timeout
        self._bridges: list[_Bridge] = []
        self._rr = itertools.count()
        self._syncs: asyncio.Queue[tuple[str, str]] = asyncio.Queue(time_sync_queue)
        self.supervisor = protos.Supervisor("control hub", on_failure=on_failure)
        self._closed = False

    def start(self) -> None:
        self.supervisor.spawn("time-syncs", self._time_syncs)

    async def close(self) -> None:
        """End every Downlinks stream and stop the time-sync worker."""
        self._closed = True
        for b in self._bridges:
            b.queue.put_nowait(None)  # the one slot above queue_size is kept for this
        await self.supervisor.close()

    # -- bridges -------------------------------------------------------------------------------

    async def subscribe(self, name: str) -> AsyncIterator[protos.Downlink]:
        """Yield the downlinks handed to this bridge until the hub closes."""
        if self._closed:
            return
        bridge = _Bridge(name, asyncio.Queue(self._queue_size + 1))
        self._bridges.append(bridge)
        self._metrics.bridges = len(self._bridges)
        log.info("bridge %r subscribed to downlinks (%d connected)", name, len(self._bridges))
        try:
            while (dl := await bridge.queue.get()) is not None:
                yield dl
        finally:
            self._bridges.remove(bridge)
            self._metrics.bridges = len(self._bridges)
            log.info("bridge %r left (%d connected)", name, len(self._bridges))

    # -- commands ------------------------------------------------------------------------------

    async def send(self, tenant: str, device_id: str, command: protos.Command) -> int:
        """Store ``command`` and hand it to one bridge; return how many bridges took it (0/1)."""
        protos.check_id(tenant, "tenant")
        protos.check_id(device_id, "device id")
        if not command.id:
            command.id = uuid.uuid4().hex
        if not command.issued_at_ns:
            command.issued_at_ns = time.time_ns()
        kind = command.WhichOneof("body") or "empty"
        body = command.SerializeToString()
        await self._execute(_INSERT, (command.id, tenant, device_id, kind, body))
        dl = protos.Downlink(tenant=tenant, device_id=device_id, command=command)
        if not await self._hand_off(dl):
            self._metrics.commands_undelivered += 1
            return 0
        self._metrics.commands_sent += 1
        await self._execute(_MARK_SENT, (command.id,))
        return 1

    async def _hand_off(self, dl: protos.Downlink) -> bool:
        if self._closed or not self._bridges:
            return False
        deadline = asyncio.get_running_loop().time() + self._put_timeout
        while True:
            n = len(self._bridges)
            start = next(self._rr)
            for i in range(n):
                bridge = self._bridges[(start + i) % n]
                if bridge.queue.qsize() < self._queue_size:
                    bridge.queue.put_nowait(dl)
                    return True
            if asyncio.get_running_loop().time() > deadline:
                raise NoBridgeRoom(f"{n} bridge(s) connected, all downlink queues full")
            await asyncio.sleep(0.05)
            if self._closed or not self._bridges:
                return False

    async def _execute(self, query: str, params: tuple[object, ...]) -> None:
        try:
            async with self._store.pool.connection() as conn:
                await conn.execute(query, params)
        except psycopg.Error as exc:
            raise StorageError(f"command log failed: {exc}", sqlstate=exc.sqlstate) from exc

    # -- presence ------------------------------------------------------------------------------

    def device_online(self, tenant: str, device_id: str) -> None:
        """Queue a TimeSync for a device that just came online (drop-newest when full)."""
        try:
            self._syncs.put_nowait((tenant, device_id))
        except asyncio.QueueFull:
            self._metrics.time_syncs_dropped += 1

    async def _time_syncs(self) -> None:
        while True:
            tenant, device_id = await self._syncs.get()
            try:
                await self.send(tenant, device_id, protos.Command(time_sync=protos.TimeSync()))
            except (StorageError, NoBridgeRoom, protos.TopicError) as exc:
                self._metrics.time_syncs_dropped += 1
                log.warning("time sync for %s/%s not sent: %s", tenant, device_id, exc)


class ControlServicer(protos.control_pb2_grpc.ControlServicer):
    def __init__(self, hub: ControlHub, policy: PolicyLoop | None = None) -> None:
        self._hub = hub
        self._policy = policy

    async def Downlinks(
        self, request: protos.ControlSubscribe, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[protos.Downlink]:
        await context.send_initial_metadata(())
        async for dl in self._hub.subscribe(request.bridge or context.peer()):
            yield dl

    async def SendCommand(
        self, request: protos.SendCommandRequest, context: grpc.aio.ServicerContext
    ) -> protos.SendCommandReply:
        command = protos.Command()
        command.CopyFrom(request.command)
        try:
            n = await self._hub.send(request.tenant, request.device_id, command)
        except protos.TopicError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except NoBridgeRoom as exc:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        except StorageError as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        return protos.SendCommandReply(id=command.id, bridges=n)

    async def _loop(self, context: grpc.aio.ServicerContext) -> PolicyLoop:
        """This core's policy loop, or the call ends UNIMPLEMENTED."""
        if self._policy is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "no policy loop in this core")
        assert self._policy is not None
        return self._policy

    async def GetPolicy(
        self, request: protos.GetPolicyRequest, context: grpc.aio.ServicerContext
    ) -> protos.GetPolicyReply:
        policy = await self._loop(context)
        try:
            scope = _scope(request.scope, request.key)
            protos.check_id(request.tenant, "tenant")
            eff = await policy.effective(request.tenant, scope)
        except (PolicyError, protos.TopicError) as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except StorageError as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        return eff.proto()

    async def SetPolicy(
        self, request: protos.SetPolicyRequest, context: grpc.aio.ServicerContext
    ) -> protos.SetPolicyReply:
        policy = await self._loop(context)
        try:
            scope = _scope(request.scope, request.key)
            n = await policy.set_policy(
                request.tenant, scope, dict(request.fields), list(request.unpin)
            )
        except PolicyError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except StorageError as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        return protos.SetPolicyReply(commands=n)


_SCOPES: dict[int, ScopeKind] = {
    protos.PolicyScope.POLICY_SCOPE_TENANT: "tenant",
    protos.PolicyScope.POLICY_SCOPE_GROUP: "group",
    protos.PolicyScope.POLICY_SCOPE_DEVICE: "device",
}


def _scope(kind: int, key: str) -> Scope:
    name = _SCOPES.get(kind)
    if name is None:
        raise PolicyError("a policy scope is required (tenant, group or device)")
    return Scope(name, key)
