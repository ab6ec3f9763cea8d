"""The core's gRPC server: Ingest, Query and Control servicers, health, reflection, drain.

``start_core(config)`` builds and starts the core (port 0 picks one); ``serve(config)`` runs the
whole service until SIGINT/SIGTERM, then drains: it stops taking new streams, lets in-flight
writes commit and be acked, and closes the pool.

Health (the asyncio ``grpc.health.v1`` servicer): SERVING once the store is open and the server
listens; NOT_SERVING while the writer cannot store (database unreachable: it retries) and from
the start of a drain. Background work runs under supervisors (the writer's flush tasks, the
Control hub's time syncs, storage maintenance); when one fails for good the core stops with its
reason (``Core.failed`` / ``Core.reason``) and :func:`serve` raises :class:`CoreError`.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TypeAlias

import grpc
from google.protobuf.internal.containers import RepeatedCompositeFieldContainer
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

import protos
from cloud_core._auth import Authenticate, AuthInterceptor
from cloud_core._control import CONTROL_SERVICE, ControlHub, ControlServicer
from cloud_core._errors import CoreError
from cloud_core._limits import IngestLimits
from cloud_core._maintenance import Maintenance, MaintenanceConfig
from cloud_core._metrics import Metrics
from cloud_core._policy import PolicyEngineConfig
from cloud_core._policy_loop import PolicyLoop
from cloud_core._query_service import QueryServicer
from cloud_core._store import Outcome, Store
from cloud_core._writer import Part, Writer, WriterConfig

log = logging.getLogger(__name__)

INGEST_SERVICE = "binhai.v1.Ingest"
QUERY_SERVICE = "binhai.v1.Query"
# "" is the whole server's health.
SERVICES = ("", INGEST_SERVICE, QUERY_SERVICE, CONTROL_SERVICE)
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
# Acks per stream message at most.
MAX_ACKS = 512
_Acks: TypeAlias = RepeatedCompositeFieldContainer[protos.IngestAck]
_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def _ack(ref: int, outcome: Outcome, more: _Acks | None = None) -> protos.IngestAck:
    """The ack of request ``ref``: a new message, or one added to ``more`` when given."""
    return (protos.IngestAck if more is None else more.add)(
        ref=ref,
        status=outcome.status,  # type: ignore[arg-type]
        duplicate=outcome.duplicate,
        reason=outcome.reason,
        committed_at_ns=time.time_ns(),
    )


def _came_online(req: protos.IngestRequest, outcome: Outcome) -> bool:
    return req.WhichOneof("item") == "presence" and req.presence.online and outcome.stored


class IngestServicer(protos.ingest_pb2_grpc.IngestServicer):
    """One Ingest stream per bridge connection; acks each request after its commit.

    :meth:`drain` stops every stream from reading new requests, lets what was read commit and
    be acked, then ends the streams with UNAVAILABLE; the bridges resend what was not read.
    """

    def __init__(self, writer: Writer, metrics: Metrics, hub: ControlHub | None = None) -> None:
        self._writer = writer
        self._metrics = metrics
        self._hub = hub
        self._readers: set[asyncio.Task[None]] = set()
        self._draining = False
        self._idle = asyncio.Event()
        self._idle.set()

    async def Stream(
        self,
        request_iterator: AsyncIterator[protos.IngestRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[protos.IngestAck]:
        if self._draining:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "core is draining")
        await context.send_initial_metadata(())
        # Completed parts, in completion order; None once the reader has stopped and all done.
        done: asyncio.Queue[Part | None] = asyncio.Queue()
        # Acks are grouped (IngestAck.more) only for clients that send bundles, which know them.
        grouped: list[bool] = [False]
        reader = asyncio.create_task(self._read(request_iterator, done, grouped))
        self._readers.add(reader)
        self._idle.clear()
        self._metrics.streams += 1
        try:
            while (part := await done.get()) is not None:
                # what else has completed goes in the same acks (a writer failure raises here
                # and fails the stream: the bridge resends)
                answered = list(zip(part[0], part[1].result(), strict=True))
                while grouped[0] and len(answered) < MAX_ACKS and not done.empty():
                    nxt = done.get_nowait()
                    if nxt is None:
                        done.put_nowait(None)
                        break
                    answered += zip(nxt[0], nxt[1].result(), strict=True)
                if not grouped[0]:
                    for req, outcome in answered:
                        yield self._ack(req, outcome)
                    continue
                for lo in range(0, len(answered), MAX_ACKS):
                    first = self._ack(*answered[lo])
                    more = first.more  # filled in place: no copy of each ack into the first
                    for req, outcome in answered[lo + 1 : lo + MAX_ACKS]:
                        self._ack(req, outcome, more)
                    yield first
            if reader.cancelled():
                context.set_code(grpc.StatusCode.UNAVAILABLE)
                context.set_details("core is draining; resend unacked requests elsewhere")
            else:
                await reader  # surfaces a read error as the stream's status
        finally:
            self._metrics.streams -= 1
            reader.cancel()
            self._readers.discard(reader)
            if not self._readers:
                self._idle.set()

    def _ack(
        self, req: protos.IngestRequest, outcome: Outcome, more: _Acks | None = None
    ) -> protos.IngestAck:
        """The ack of ``req``; added to ``more`` (an ack's repeated ``more``) when given."""
        if self._hub is not None and _came_online(req, outcome):
            self._hub.device_online(req.presence.tenant, req.presence.device_id)
        return _ack(req.ref, outcome, more)

    async def _read(
        self,
        request_iterator: AsyncIterator[protos.IngestRequest],
        done: asyncio.Queue[Part | None],
        grouped: list[bool],
    ) -> None:
        pending: set[asyncio.Future[list[Outcome]]] = set()

        def completed(reqs: list[protos.IngestRequest], fut: asyncio.Future[list[Outcome]]) -> None:
            pending.discard(fut)
            done.put_nowait((reqs, fut))

        try:
            async for msg in request_iterator:
                items: Sequence[protos.IngestRequest] = (msg,)
                if msg.WhichOneof("item") == "bundle":
                    items = msg.bundle.items
                    grouped[0] = True
                for reqs, fut in await self._writer.submit_many(items):
                    pending.add(fut)
                    fut.add_done_callback(partial(completed, reqs))
        finally:
            # Also on cancellation (drain): what was read is committed and acked first.
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
            done.put_nowait(None)

    async def drain(self, timeout: float) -> bool:
        """Stop reading, finish and ack what was read; True if every stream ended in time."""
        self._draining = True
        for reader in list(self._readers):
            reader.cancel()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True


@dataclass(frozen=True, slots=True)
class ServerTls:
    """TLS on the gRPC port: the server's certificate chain and key (PEM); with
    ``client_ca_pem``, every client must present a certificate signed by that CA (mutual TLS),
    which :attr:`CoreConfig.auth_by_certificate` can then authenticate."""

    cert_pem: bytes
    key_pem: bytes = field(repr=False)
    client_ca_pem: bytes | None = None


@dataclass(frozen=True, slots=True)
class CoreConfig:
    dsn: str = field(repr=False)  # may carry a password
    listen: str = "127.0.0.1:50051"
    metrics_listen: str | None = None
    pool_size: int = 4
    writer: WriterConfig = field(default_factory=WriterConfig)
    limits: IngestLimits = field(default_factory=IngestLimits)
    drain_timeout: float = 30.0
    # Rollup refresh, partitions ahead, retention; None runs none of it in this core.
    maintenance: MaintenanceConfig | None = field(default_factory=MaintenanceConfig)
    # The policy engine's rounds; None runs none in this core (operators' overrides still go
    # down). Run them in one core of a deployment.
    policy: PolicyEngineConfig | None = field(default_factory=PolicyEngineConfig)
    #: the novelty threshold the engine assumes a device starts with
    policy_default_threshold: float = 4.0
    # Bearer-token authentication (cloud_core._auth); None: every caller may call everything.
    auth: Authenticate | None = None
    # Client certificate common name -> principal, for calls without a token (needs
    # ``tls.client_ca_pem``).
    auth_by_certificate: Authenticate | None = None
    tls: ServerTls | None = None
    # The live dashboard's HTTP address (cloud_core._dashboard); None serves none.
    http_listen: str | None = None


@dataclass
class Core:
    """A running core: the server plus what it owns, closed in order by :meth:`stop`."""

    server: grpc.aio.Server
    port: int
    store: Store
    writer: Writer
    metrics: Metrics
    health: health.aio.HealthServicer
    ingest: IngestServicer
    control: ControlHub
    policy: PolicyLoop
    metrics_server: asyncio.Server | None = None
    http_server: asyncio.Server | None = None
    maintenance: Maintenance | None = None
    #: Set when a supervised part failed for good; ``reason`` says which and why.
    failed: asyncio.Event = field(default_factory=asyncio.Event)
    reason: str = ""

    def fail(self, reason: str) -> None:
        """Stop serving for good: record ``reason`` and set ``failed``."""
        if not self.reason:
            self.reason = reason
        self.failed.set()

    async def set_serving(self, ok: bool) -> None:
        """Report the core (and its Ingest service) SERVING or NOT_SERVING."""
        status = _SERVING if ok else _NOT_SERVING
        for svc in ("", INGEST_SERVICE):
            await self.health.set(svc, status)

    async def stop(self, grace: float = 30.0) -> bool:
        """Graceful drain: refuse new work, finish and ack what is in flight, close.

        Return True if every request read was committed and acked within ``grace`` seconds.
        Raises :class:`CoreError` if a supervised part had failed.
        """
        await self.health.enter_graceful_shutdown()
        drained = await self.ingest.drain(grace)
        if drained:
            log.info("drained: every request read was committed and acked")
        else:
            log.warning("drain timed out after %.0fs; unacked items will be redelivered", grace)
        try:
            await self.policy.close()  # re-raises a failure of its rounds
            await self.control.close()
            await self.server.stop(1.0)
            await self.writer.close()  # re-raises a failure of the writer
            if self.maintenance is not None:
                await self.maintenance.close()  # re-raises a failure of the background task
        finally:
            if self.metrics_server is not None:
                self.metrics_server.close()
            if self.http_server is not None:
                self.http_server.close()
            await self.store.close()
        if self.reason:
            raise CoreError(self.reason)
        return drained


async def start_core(config: CoreConfig) -> Core:
    """Open the store, start the writer and the gRPC server; return the running :class:`Core`."""
    store = Store(config.dsn, max_size=config.pool_size, limits=config.limits)
    await store.open()
    metrics = Metrics()
    # The writer reports storage health and failure to the core, which exists only later.
    core_ref: list[Core] = []

    async def on_health(ok: bool) -> None:
        if core_ref:
            await core_ref[0].set_serving(ok)

    def on_failure(reason: str) -> None:
        if core_ref:
            core_ref[0].fail(reason)

    writer = Writer(store, metrics, config.writer, on_health=on_health, on_failure=on_failure)
    writer.start()
    if config.auth_by_certificate is not None and (
        config.auth is None or config.tls is None or config.tls.client_ca_pem is None
    ):
        raise ValueError("certificate authentication needs auth and TLS with a client CA")
    auth = (
        AuthInterceptor(config.auth, metrics, by_certificate=config.auth_by_certificate)
        if config.auth is not None
        else None
    )
    server = grpc.aio.server(
        interceptors=[auth] if auth is not None else None,
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            # Bridges ping every 10 s on their long-lived streams; accept that (the default
            # answers pings more frequent than every 5 minutes with GOAWAY too_many_pings).
            ("grpc.http2.min_recv_ping_interval_without_data_ms", 5_000),
            ("grpc.keepalive_permit_without_calls", 1),
        ],
    )
    hub = ControlHub(store, metrics, on_failure=on_failure)
    hub.start()
    policy = PolicyLoop(
        store,
        hub,
        config.policy or PolicyEngineConfig(),
        metrics=metrics,
        default_threshold=config.policy_default_threshold,
        on_failure=on_failure,
    )
    try:
        await policy.start(rounds=config.policy is not None)
    except Exception:
        await hub.close()
        await writer.close()
        await store.close()
        raise
    ingest = IngestServicer(writer, metrics, hub)
    protos.ingest_pb2_grpc.add_IngestServicer_to_server(ingest, server)
    protos.query_pb2_grpc.add_QueryServicer_to_server(QueryServicer(store), server)
    protos.control_pb2_grpc.add_ControlServicer_to_server(ControlServicer(hub, policy), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = (*SERVICES[1:], health.SERVICE_NAME, reflection.SERVICE_NAME)
    reflection.enable_server_reflection(names, server)
    if config.tls is not None:
        creds = grpc.ssl_server_credentials(
            [(config.tls.key_pem, config.tls.cert_pem)],
            root_certificates=config.tls.client_ca_pem,
            require_client_auth=config.tls.client_ca_pem is not None,
        )
        port = server.add_secure_port(config.listen, creds)
    else:
        port = server.add_insecure_port(config.listen)
    if port == 0:
        await policy.close()
        await hub.close()
        await writer.close()
        await store.close()
        raise OSError(f"cannot listen on {config.listen}")
    await server.start()
    for svc in SERVICES:
        await health_servicer.set(svc, _SERVING)
    core = Core(server, port, store, writer, metrics, health_servicer, ingest, hub, policy)
    core_ref.append(core)
    if config.maintenance is not None:
        core.maintenance = Maintenance(config.dsn, config.maintenance, on_failure=core.fail)
        core.maintenance.start()
    if config.metrics_listen:
        core.metrics_server = await protos.serve_exposition(metrics.render, config.metrics_listen)
    if config.http_listen:
        from cloud_core._dashboard import start_dashboard

        core.http_server = await start_dashboard(store, config.http_listen)
    caps = store.capabilities
    log.info(
        "core serving on port %d (%s; %s, %s)",
        port,
        caps.describe() if caps else "?",
        "TLS" if config.tls else "plaintext",
        "authentication on" if auth else "authentication OFF",
    )
    return core


async def serve(config: CoreConfig, *, on_ready: Callable[[Core], None] | None = None) -> bool:
    """Run the core until SIGINT or SIGTERM, then drain gracefully; return whether the drain
    finished in time (see :meth:`Core.stop`).

    Raises :class:`CoreError` (after draining) when a supervised part of the core failed for
    good: the service stops with that reason instead of serving without it.
    """
    core = await start_core(config)
    if on_ready is not None:
        on_ready(core)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    waits = [asyncio.create_task(e.wait()) for e in (stop, core.failed)]
    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for w in waits:
        w.cancel()
    if core.reason:
        log.error("stopping: %s", core.reason)
    else:
        log.info("draining")
    return await core.stop(config.drain_timeout)
