"""The bridge's gRPC link to the cores: one channel and one Ingest stream per core address.

``send`` returns a future resolved with a core's ack. Requests are spread round robin over the
streams that are up; what queues up for a stream while its previous write is in flight goes as
one :class:`protos.IngestBundle` (acks come back grouped the same way). A request stays pending
on its stream until acked; when a stream breaks, its pending requests move to streams that are
up (another core) and, if none is, wait on their own stream and go again when it reconnects —
oldest first, ahead of new requests. The same happens when a stream comes up while another is
down. At-least-once: a request may reach two cores; the database deduplicates on
(tenant, device_id, seq).

Poison: a message that crashes a core would crash the next one it is sent to. When a stream
fails while connected, every request written on it and not acked gets a *strike*. A request
with one strike goes again normally (a core killed for other reasons is the common case). One
with two is *quarantined*: quarantined requests go one at a time across the whole link, so a
further crash points at the one in flight. At ``max_strikes`` (default 3) a request is not
forwarded again: it is replaced by a dead letter carrying its payload and the reason, and its
future resolves REJECTED (the device is told, and stops resending it).

Bounds: pending requests are bounded by the caller (the bridge's in-flight limit), and each
stream's outbox and the quarantine only ever hold pending requests. The stream tasks run under
the caller's :class:`protos.Supervisor`; a stream task that ends unexpectedly is marked down
(never left in rotation) and restarted.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Sequence
from functools import partial

import grpc

import protos
from broker_bridge._errors import CoreLinkError
from broker_bridge._validate import dead_letter
from broker_bridge._wire import encode_requests

__all__ = ["CHANNEL_OPTIONS", "DEFAULT_MAX_STRIKES", "CoreLink", "refusal"]

log = logging.getLogger(__name__)

CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", 16 * 1024 * 1024),
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    # Reconnect quickly after a core restarts (gRPC's default backoff grows to two minutes).
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2_000),
]

# Requests per stream message at most (a bundle of ~2 KB batches stays far below 16 MB).
MAX_BUNDLE = 256
# The Ingest/Stream method; requests are written already serialized (:mod:`._wire`).
_STREAM_METHOD = "/binhai.v1.Ingest/Stream"
DEFAULT_MAX_STRIKES = 3
_QUARANTINE_AT = 2


_REFUSED = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)


def refusal(exc: grpc.aio.AioRpcError, addr: str) -> None:
    """Raise :class:`CoreLinkError` when the core refused our credentials; else return.

    The supervised task then fails (and is restarted with backoff, and stops the bridge with
    this reason if it keeps failing) instead of reconnecting quietly forever.
    """
    if exc.code() in _REFUSED:
        raise CoreLinkError(
            f"core {addr} refused the bridge: {exc.code().name}: {exc.details()}",
            code=exc.code().name,
        ) from None


class _Stream:
    """One core address: a (re)connecting bidi Ingest stream and the requests pending on it."""

    def __init__(self, addr: str, link: CoreLink) -> None:
        self.addr = addr
        self.link = link
        self.pending: dict[int, protos.IngestRequest] = {}
        self.outbox: asyncio.Queue[protos.IngestRequest] = asyncio.Queue()
        # Refs written on the current call and not yet acked (a crash strikes these).
        self.written: set[int] = set()
        self.up = False
        self.sent = 0
        self.resent = 0
        self.failures = 0

    def put(self, req: protos.IngestRequest) -> None:
        self.pending[req.ref] = req
        self.outbox.put_nowait(req)

    async def run(self, channel: grpc.aio.Channel) -> None:
        try:
            await self._run(channel)
        finally:
            self._set_up(False)  # whatever ends this task, the stream leaves the rotation

    async def _run(self, channel: grpc.aio.Channel) -> None:
        # Requests go already serialized (no request serializer): bundles are joined bytes.
        stream = channel.stream_stream(
            _STREAM_METHOD, response_deserializer=protos.IngestAck.FromString
        )
        backoff = protos.Backoff()
        while True:
            # Everything not yet acked goes again, oldest first, ahead of new requests.
            self.outbox = asyncio.Queue()
            for ref in sorted(self.pending):
                self.outbox.put_nowait(self.pending[ref])
            self.resent += len(self.pending)
            self.written = set()
            call = stream()
            writer = asyncio.create_task(self._write(call))
            crashed = False
            try:
                await call.wait_for_connection()
                self._set_up(True)
                backoff.reset()
                async for msg in call:
                    for ack in (msg, *msg.more):
                        if self.pending.pop(ack.ref, None) is not None:
                            self.written.discard(ack.ref)
                            self.link.resolve(ack)
                code = await call.code()
                log.warning("core %s ended the ingest stream: %s", self.addr, code.name)
            except grpc.aio.AioRpcError as exc:
                refusal(exc, self.addr)  # credentials refused: the task fails, not retried quietly
                crashed = self.up
                log.warning("ingest stream to %s failed: %s", self.addr, exc.code().name)
            finally:
                writer.cancel()
                (failed,) = await asyncio.gather(writer, return_exceptions=True)
                call.cancel()
            if failed is not None and not isinstance(
                failed, (asyncio.CancelledError, grpc.aio.AioRpcError, grpc.aio.UsageError)
            ):
                log.error("writing to core %s failed", self.addr, exc_info=failed)
            self.failures += 1
            if crashed:
                self.link.struck(self, sorted(self.written & self.pending.keys()))
            self._set_up(False)
            await backoff.wait()

    def _set_up(self, up: bool) -> None:
        if up != self.up:
            self.up = up
            self.link.rebalance()

    async def _write(self, call: grpc.aio.StreamStreamCall) -> None:
        """Write the outbox to ``call``; what queued up during the last write goes as one bundle.

        Ends with the call: a failed write is noticed by :meth:`run` reading the acks.
        """
        outbox = self.outbox
        while True:
            items = [await outbox.get()]
            while len(items) < MAX_BUNDLE and not outbox.empty():
                items.append(outbox.get_nowait())
            items = [r for r in items if r.ref in self.pending]  # skip those moved elsewhere
            if not items:
                continue
            self.sent += len(items)
            msg = encode_requests(items)
            self.written.update(r.ref for r in items)
            await call.write(msg)


class CoreLink:
    """Round robin over the cores' Ingest streams; owns one gRPC channel per core."""

    def __init__(
        self,
        addrs: Sequence[str],
        *,
        max_strikes: int = DEFAULT_MAX_STRIKES,
        auth: protos.CoreAuth | None = None,
    ) -> None:
        if not addrs:
            raise ValueError("no core address given")
        if max_strikes < _QUARANTINE_AT:
            raise ValueError(f"max_strikes must be >= {_QUARANTINE_AT}")
        self.channels = {a: protos.core_channel(a, auth, options=CHANNEL_OPTIONS) for a in addrs}
        self._streams = [_Stream(a, self) for a in addrs]
        self._rr = itertools.cycle(self._streams)
        self._refs = itertools.count(1)
        self._futures: dict[int, asyncio.Future[protos.IngestAck]] = {}
        self.max_strikes = max_strikes
        self._strikes: dict[int, int] = {}
        self._quarantine: deque[protos.IngestRequest] = deque()
        self._isolated: int | None = None  # the quarantined ref in flight
        self._poisoned: dict[int, str] = {}  # ref -> reason, for refs replaced by dead letters
        self.rerouted = 0
        self.poisoned = 0
        self._own: protos.Supervisor | None = None

    def start(self, supervisor: protos.Supervisor | None = None) -> None:
        """Run the streams under ``supervisor`` (default: one of the link's own, which
        :meth:`close` stops; a caller's supervisor is stopped by the caller)."""
        if supervisor is None:
            supervisor = self._own = protos.Supervisor("core link")
        for s in self._streams:
            supervisor.spawn(f"ingest-{s.addr}", partial(s.run, self.channels[s.addr]))

    @property
    def pending(self) -> int:
        return len(self._futures)

    @property
    def quarantined(self) -> int:
        return len(self._quarantine) + (self._isolated is not None)

    def per_core(self) -> dict[str, dict[str, int]]:
        """Per core address: sent, resent, pending, failures and up (1/0)."""
        return {
            s.addr: {
                "sent": s.sent,
                "resent": s.resent,
                "pending": len(s.pending),
                "failures": s.failures,
                "up": int(s.up),
            }
            for s in self._streams
        }

    def send(self, req: protos.IngestRequest) -> asyncio.Future[protos.IngestAck]:
        req.ref = next(self._refs)
        fut: asyncio.Future[protos.IngestAck] = asyncio.get_running_loop().create_future()
        self._futures[req.ref] = fut
        self._pick().put(req)
        return fut

    def resolve(self, ack: protos.IngestAck) -> None:
        ref = ack.ref
        self._strikes.pop(ref, None)
        reason = self._poisoned.pop(ref, None)
        if reason is not None:  # the dead letter that replaced it is stored
            ack = protos.IngestAck(
                ref=ref,
                status=protos.IngestAck.Status.STATUS_REJECTED,
                reason=reason,
                committed_at_ns=ack.committed_at_ns,
            )
        fut = self._futures.pop(ref, None)
        if fut is not None and not fut.done():
            fut.set_result(ack)
        if ref == self._isolated:
            self._isolated = None
            self._release()

    def _pick(self) -> _Stream:
        """The next stream that is up, round robin; the next one at all if none is up."""
        first = next(self._rr)
        stream = first
        for _ in range(len(self._streams) - 1):
            if stream.up:
                return stream
            stream = next(self._rr)
        return stream if stream.up else first

    def rebalance(self) -> None:
        """Move requests pending on streams that are down onto streams that are up."""
        if not any(s.up for s in self._streams):
            return
        for stream in self._streams:
            if stream.up or not stream.pending:
                continue
            moved = [stream.pending[ref] for ref in sorted(stream.pending)]
            stream.pending.clear()
            for req in moved:
                self._pick().put(req)
            self.rerouted += len(moved)
            log.warning("moved %d pending requests from core %s", len(moved), stream.addr)
        self._release()

    # -- poison ----------------------------------------------------------------------------

    def struck(self, stream: _Stream, refs: Sequence[int]) -> None:
        """``stream`` failed while ``refs`` were written on it and not acked."""
        for ref in refs:
            n = self._strikes[ref] = self._strikes.get(ref, 0) + 1
            if ref == self._isolated:
                self._isolated = None
            if n < _QUARANTINE_AT:
                continue
            req = stream.pending.pop(ref)
            if n >= self.max_strikes:
                stream.put(self._to_dead_letter(req, n))
            else:
                log.warning("request %d was in flight at %d core failures; quarantined", ref, n)
                self._quarantine.append(req)
        self._release()

    def _release(self) -> None:
        """Send the next quarantined request when none is in flight and a stream is up."""
        if self._isolated is not None or not self._quarantine:
            return
        stream = self._pick()
        if not stream.up:
            return
        req = self._quarantine.popleft()
        self._isolated = req.ref
        stream.put(req)

    def _to_dead_letter(self, req: protos.IngestRequest, strikes: int) -> protos.IngestRequest:
        reason = f"crashed a core: in flight at {strikes} core failures, not forwarded again"
        self.poisoned += 1
        self._poisoned[req.ref] = reason
        if req.WhichOneof("item") == "batch":
            b = req.batch
            topic = protos.topic_for(b.tenant, b.device_id, "up")
            payload = b.SerializeToString()
        else:
            topic, payload = f"{protos.PREFIX}/?/?/up", req.SerializeToString()
        log.error("request %d on %s %s; dead-lettered", req.ref, topic, reason)
        dl = dead_letter(topic, payload, reason, time.time_ns())
        dl.ref = req.ref
        return dl

    async def close(self) -> None:
        if self._own is not None:
            await self._own.close()
        for channel in self.channels.values():
            await channel.close()
        for fut in self._futures.values():
            fut.cancel()
        self._futures.clear()
