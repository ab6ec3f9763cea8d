"""The bridge's gRPC link to the cores: one channel and one Ingest stream per core address.

``send`` returns a future resolved with a core's ack. Requests are spread round robin over the
streams that are up; what queues up for a stream while its previous write is in flight goes as
one :class:`protos.IngestBundle` (acks come back grouped the same way). A request stays pending
on its stream until acked; when a stream breaks, its pending requests move to streams that are
up (another core) and, if none is, wait on their own stream and go again when it reconnects —
oldest first, ahead of new requests. The same happens when a stream comes up while another is
down. At-least-once: a request may reach two cores; the database deduplicates on
(tenant, device_id, seq).

Bounds: pending requests are bounded by the caller (the bridge's in-flight limit), and each
stream's outbox only ever holds pending requests, so nothing here grows without bound.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Sequence

import grpc

import protos
from protos import Backoff

__all__ = ["CHANNEL_OPTIONS", "CoreLink"]

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


class _Stream:
    """One core address: a (re)connecting bidi Ingest stream and the requests pending on it."""

    def __init__(self, addr: str, link: CoreLink) -> None:
        self.addr = addr
        self.link = link
        self.pending: dict[int, protos.IngestRequest] = {}
        self.outbox: asyncio.Queue[protos.IngestRequest] = asyncio.Queue()
        self.up = False
        self.sent = 0
        self.resent = 0
        self.failures = 0

    def put(self, req: protos.IngestRequest) -> None:
        self.pending[req.ref] = req
        self.outbox.put_nowait(req)

    async def run(self, channel: grpc.aio.Channel) -> None:
        stub = protos.ingest_pb2_grpc.IngestStub(channel)
        backoff = Backoff()
        while True:
            # Everything not yet acked goes again, oldest first, ahead of new requests.
            self.outbox = asyncio.Queue()
            for ref in sorted(self.pending):
                self.outbox.put_nowait(self.pending[ref])
            self.resent += len(self.pending)
            call = stub.Stream()
            writer = asyncio.create_task(self._write(call))
            try:
                await call.wait_for_connection()
                self._set_up(True)
                backoff.reset()
                async for msg in call:
                    for ack in (msg, *msg.more):
                        if self.pending.pop(ack.ref, None) is not None:
                            self.link.resolve(ack)
                code = await call.code()
                log.warning("core %s ended the ingest stream: %s", self.addr, code.name)
            except grpc.aio.AioRpcError as exc:
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
            msg = (
                items[0]
                if len(items) == 1
                else protos.IngestRequest(bundle=protos.IngestBundle(items=items))
            )
            await call.write(msg)


class CoreLink:
    """Round robin over the cores' Ingest streams; owns one gRPC channel per core."""

    def __init__(self, addrs: Sequence[str]) -> None:
        if not addrs:
            raise ValueError("no core address given")
        self.channels = {a: grpc.aio.insecure_channel(a, options=CHANNEL_OPTIONS) for a in addrs}
        self._streams = [_Stream(a, self) for a in addrs]
        self._rr = itertools.cycle(self._streams)
        self._refs = itertools.count(1)
        self._futures: dict[int, asyncio.Future[protos.IngestAck]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.rerouted = 0

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(s.run(self.channels[s.addr]), name=f"ingest-{s.addr}")
            for s in self._streams
        ]

    @property
    def pending(self) -> int:
        return len(self._futures)

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
        fut = self._futures.pop(ack.ref, None)
        if fut is not None and not fut.done():
            fut.set_result(ack)

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

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for channel in self.channels.values():
            await channel.close()
        for fut in self._futures.values():
            fut.cancel()
        self._futures.clear()
