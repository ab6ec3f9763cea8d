"""The bridge's gRPC link to the core: one Ingest stream per core address, resent on failure.

``send`` returns a future resolved with the core's ack. Requests stay pending until acked; when
a stream breaks, every pending request is sent again on the next stream (at-least-once; the core
deduplicates on (tenant, device_id, seq)). Several core addresses are used round-robin.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from collections.abc import AsyncIterator, Sequence

import grpc

import protos

log = logging.getLogger(__name__)

_OPTIONS = [
    ("grpc.max_send_message_length", 16 * 1024 * 1024),
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
]


class _Stream:
    """One core address: a channel and a (re)connecting bidi stream."""

    def __init__(self, addr: str) -> None:
        self.addr = addr
        self.pending: dict[int, tuple[protos.IngestRequest, asyncio.Future[protos.IngestAck]]] = {}
        self.outbox: asyncio.Queue[protos.IngestRequest] = asyncio.Queue()
        self.up = False
        self.sent = 0

    async def run(self) -> None:
        delay = 0.1
        async with grpc.aio.insecure_channel(self.addr, options=_OPTIONS) as channel:
            stub = protos.ingest_pb2_grpc.IngestStub(channel)
            while True:
                # Everything not yet acked goes again, oldest first, ahead of new requests.
                self.outbox = asyncio.Queue()
                for ref in sorted(self.pending):
                    self.outbox.put_nowait(self.pending[ref][0])
                try:
                    call = stub.Stream(self._requests())
                    async for ack in call:
                        self.up = True
                        delay = 0.1
                        entry = self.pending.pop(ack.ref, None)
                        if entry is not None and not entry[1].done():
                            entry[1].set_result(ack)
                    log.warning("core %s closed the ingest stream", self.addr)
                except grpc.aio.AioRpcError as exc:
                    log.warning("ingest stream to %s failed: %s", self.addr, exc.code().name)
                self.up = False
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 5.0)

    async def _requests(self) -> AsyncIterator[protos.IngestRequest]:
        outbox = self.outbox
        while True:
            req = await outbox.get()
            if req.ref in self.pending:
                self.sent += 1
                yield req


class CoreLink:
    """Round-robin over one stream per core address."""

    def __init__(self, addrs: Sequence[str]) -> None:
        if not addrs:
            raise ValueError("no core address given")
        self._streams = [_Stream(a) for a in addrs]
        self._rr = itertools.cycle(self._streams)
        self._refs = itertools.count(1)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(s.run(), name=f"core-{s.addr}") for s in self._streams]

    @property
    def pending(self) -> int:
        return sum(len(s.pending) for s in self._streams)

    def sent_per_core(self) -> dict[str, int]:
        return {s.addr: s.sent for s in self._streams}

    def send(self, req: protos.IngestRequest) -> asyncio.Future[protos.IngestAck]:
        req.ref = next(self._refs)
        fut: asyncio.Future[protos.IngestAck] = asyncio.get_running_loop().create_future()
        stream = next(self._rr)
        for _ in range(len(self._streams) - 1):
            if stream.up:
                break
            stream = next(self._rr)
        stream.pending[req.ref] = (req, fut)
        stream.outbox.put_nowait(req)
        return fut

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for s in self._streams:
            for _, fut in s.pending.values():
                fut.cancel()
