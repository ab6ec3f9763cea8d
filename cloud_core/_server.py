"""The core's gRPC server: Ingest and Query servicers, health, reflection, graceful drain.

``create_server(addr, ...) -> (server, port)`` builds and starts a server (port 0 picks one);
``serve(config)`` runs the whole service until SIGINT/SIGTERM, then drains: it stops taking new
streams, lets in-flight writes commit and be acked, and closes the pool.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import partial

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

import protos
from cloud_core._metrics import Metrics, serve_metrics
from cloud_core._query_service import QueryServicer
from cloud_core._store import Outcome, Store
from cloud_core._writer import Writer, WriterConfig

log = logging.getLogger(__name__)

INGEST_SERVICE = "binhai.v1.Ingest"
QUERY_SERVICE = "binhai.v1.Query"
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


def _ack(ref: int, outcome: Outcome) -> protos.IngestAck:
    return protos.IngestAck(
        ref=ref,
        status=outcome.status,  # type: ignore[arg-type]
        duplicate=outcome.duplicate,
        reason=outcome.reason,
        committed_at_ns=time.time_ns(),
    )


def _completed(
    done: asyncio.Queue[tuple[int, asyncio.Future[Outcome]] | None],
    ref: int,
    fut: asyncio.Future[Outcome],
) -> None:
    done.put_nowait((ref, fut))


class IngestServicer(protos.ingest_pb2_grpc.IngestServicer):
    def __init__(self, writer: Writer, metrics: Metrics) -> None:
        self._writer = writer
        self._metrics = metrics

    async def Stream(
        self,
        request_iterator: AsyncIterator[protos.IngestRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[protos.IngestAck]:
        # Completed futures, in completion order; None once the client half-closed and all done.
        done: asyncio.Queue[tuple[int, asyncio.Future[Outcome]] | None] = asyncio.Queue()
        self._metrics.streams += 1

        async def pump() -> None:
            pending: set[asyncio.Future[Outcome]] = set()
            try:
                async for req in request_iterator:
                    fut = await self._writer.submit(req)
                    pending.add(fut)
                    fut.add_done_callback(pending.discard)
                    fut.add_done_callback(partial(_completed, done, req.ref))
                await asyncio.gather(*pending, return_exceptions=True)
            finally:
                done.put_nowait(None)

        task = asyncio.create_task(pump())
        try:
            while (item := await done.get()) is not None:
                ref, fut = item
                yield _ack(ref, fut.result())  # a writer failure fails the stream: resend
            await task  # surfaces a reader error as the stream's status
        finally:
            self._metrics.streams -= 1
            task.cancel()


@dataclass(frozen=True, slots=True)
class CoreConfig:
    dsn: str
    listen: str = "127.0.0.1:50051"
    metrics_listen: str | None = None
    pool_size: int = 4
    writer: WriterConfig = field(default_factory=WriterConfig)
    drain_timeout: float = 30.0


@dataclass
class Core:
    """A running core: the server plus what it owns, closed in order by :meth:`stop`."""

    server: grpc.aio.Server
    port: int
    store: Store
    writer: Writer
    metrics: Metrics
    health: health.HealthServicer
    metrics_server: asyncio.Server | None = None

    async def stop(self, grace: float = 30.0) -> None:
        """Graceful drain: refuse new work, finish and ack what is in flight, close."""
        for svc in ("", INGEST_SERVICE, QUERY_SERVICE):
            self.health.set(svc, health_pb2.HealthCheckResponse.NOT_SERVING)
        stopping = asyncio.create_task(self.server.stop(grace))
        try:
            await asyncio.wait_for(self.writer.drain(), grace)
        except asyncio.TimeoutError:
            log.warning("drain timed out after %.0fs; unacked items will be redelivered", grace)
        await stopping
        await self.writer.close()
        if self.metrics_server is not None:
            self.metrics_server.close()
        await self.store.close()


async def start_core(config: CoreConfig) -> Core:
    """Open the store, start the writer and the gRPC server; return the running :class:`Core`."""
    store = Store(config.dsn, max_size=config.pool_size)
    await store.open()
    metrics = Metrics()
    writer = Writer(store, metrics, config.writer)
    writer.start()
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ]
    )
    protos.ingest_pb2_grpc.add_IngestServicer_to_server(IngestServicer(writer, metrics), server)
    protos.query_pb2_grpc.add_QueryServicer_to_server(QueryServicer(store), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = (INGEST_SERVICE, QUERY_SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME)
    reflection.enable_server_reflection(names, server)
    port = server.add_insecure_port(config.listen)
    if port == 0:
        await store.close()
        raise OSError(f"cannot listen on {config.listen}")
    await server.start()
    for svc in ("", INGEST_SERVICE, QUERY_SERVICE):
        health_servicer.set(svc, health_pb2.HealthCheckResponse.SERVING)
    core = Core(server, port, store, writer, metrics, health_servicer)
    if config.metrics_listen:
        host, _, mport = config.metrics_listen.rpartition(":")
        core.metrics_server = await serve_metrics(metrics, host or "127.0.0.1", int(mport))
    caps = store.capabilities
    log.info("core serving on port %d (%s)", port, caps.describe() if caps else "?")
    return core


async def serve(config: CoreConfig, *, on_ready: Callable[[Core], None] | None = None) -> None:
    """Run the core until SIGINT or SIGTERM, then drain gracefully."""
    core = await start_core(config)
    if on_ready is not None:
        on_ready(core)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("draining")
    await core.stop(config.drain_timeout)
