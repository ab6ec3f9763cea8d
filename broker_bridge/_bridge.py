"""The bridge service: MQTT in, gRPC to the cores, MQTT acks only after a core's durable ack.

After a core's ack the bridge also confirms the batch end to end: every ``stored_delay``
seconds it publishes, per device, one ``Stored`` command listing the seqs the cores committed
(or refused) on the device's down topic (:mod:`broker_bridge._confirm`). Also forwards the
cores' downlinks to devices and serves Prometheus metrics.

Every background task (consuming, one ingest and one downlink stream per core, confirmations)
runs under a :class:`protos.Supervisor`: a task that fails is restarted with backoff; one that
keeps failing stops the bridge with a one-line reason (:class:`BridgeError` from
:func:`run_bridge`), never leaving a dead stream in rotation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import protos
from broker_bridge._acks import AckOrder, Incoming
from broker_bridge._confirm import Confirmations
from broker_bridge._downlink import forward_downlinks
from broker_bridge._errors import BridgeError
from broker_bridge._handoff import Handoff
from broker_bridge._link import DEFAULT_MAX_STRIKES, CoreLink
from broker_bridge._metrics import BridgeStats, render
from broker_bridge._mqtt import MqttSource, TlsFiles
from broker_bridge._quota import QuotaConfig, Quotas
from broker_bridge._validate import DEFAULT_MAX_PAYLOAD, classify, dead_letter

log = logging.getLogger(__name__)

# A plain int: attribute access on the protobuf enum wrapper costs about a microsecond an ack.
_REJECTED = int(protos.IngestAck.Status.STATUS_REJECTED)


@dataclass(frozen=True, slots=True)
class BridgeConfig:
    mqtt_url: str = field(repr=False)  # may carry a password
    core_addrs: tuple[str, ...]
    client_id: str = field(default_factory=lambda: f"binhai-bridge-{socket.gethostname()}")
    share_group: str = "bridge"
    tenant: str = "+"
    max_inflight: int = 1000
    max_payload: int = DEFAULT_MAX_PAYLOAD
    tls: TlsFiles | None = None
    drain_timeout: float = 10.0
    # Prometheus endpoint, "host:port" or ":port"; None serves none.
    metrics_listen: str | None = None
    # Downlinks published to the broker and not yet acknowledged by it.
    max_downlinks: int = 100
    # End-to-end acknowledgement: publish Stored confirmations (turn off only while devices
    # with an SDK that predates them are in the field: they would answer each with a NACK).
    stored_confirmations: bool = True
    # Seconds the confirmations for a device are coalesced before they are published.
    stored_delay: float = 0.25
    # A request in flight at this many core failures is dead-lettered instead of resent.
    max_core_crashes: int = DEFAULT_MAX_STRIKES
    # Token and TLS for the cores (None: plaintext, no token).
    core_auth: protos.CoreAuth | None = None
    # Per-device and per-tenant rate limits (none by default).
    quotas: QuotaConfig = field(default_factory=QuotaConfig)


class Bridge:
    """Runs until :meth:`stop`; every message is acked only after the core has it durably."""

    def __init__(self, config: BridgeConfig) -> None:
        self.config = config
        self.stats = BridgeStats()
        self._url = protos.MqttUrl.parse(config.mqtt_url)
        self._inflight = asyncio.Semaphore(config.max_inflight)
        self._order = AckOrder()
        self._stop = asyncio.Event()
        self.link = CoreLink(
            config.core_addrs, max_strikes=config.max_core_crashes, auth=config.core_auth
        )
        self.supervisor = protos.Supervisor("bridge", on_failure=lambda _r: self._stop.set())
        self.confirmations = Confirmations()
        self.quotas = Quotas(config.quotas) if config.quotas.enabled else None
        self._confirm_now = asyncio.Event()
        self.source: MqttSource | None = None
        self._inbox: Handoff[Incoming] | None = None
        self.metrics_server: asyncio.Server | None = None

    async def run(self, on_ready: Callable[[], None] | None = None) -> None:
        loop = asyncio.get_running_loop()
        self._inbox = Handoff(loop, self.config.max_inflight)
        self.source = source = MqttSource(
            self._url,
            self._inbox,
            loop,
            client_id=self.config.client_id,
            share_group=self.config.share_group,
            tenant=self.config.tenant,
            receive_maximum=self.config.max_inflight,
            tls=self.config.tls,
            max_downlinks=self.config.max_downlinks,
        )
        if self.config.metrics_listen:
            self.metrics_server = await protos.serve_exposition(
                self.render_metrics, self.config.metrics_listen
            )
        sup = self.supervisor
        self.link.start(sup)
        source.start()
        sup.spawn("consume", self._consume)
        if self.config.stored_confirmations:
            sup.spawn("confirmations", self._confirm)
        for addr, channel in self.link.channels.items():
            sup.spawn(
                f"downlinks-{addr}",
                partial(
                    forward_downlinks,
                    channel,
                    source.publish,
                    self.stats.downlinks,
                    bridge_name=self.config.client_id,
                    addr=addr,
                ),
            )
        try:
            if on_ready is not None:
                stop_wait = asyncio.create_task(self._stop.wait())
                sub_wait = asyncio.create_task(source.subscribed.wait())
                await asyncio.wait({stop_wait, sub_wait}, return_when=asyncio.FIRST_COMPLETED)
                sub_wait.cancel()
                if source.subscribed.is_set():
                    on_ready()
            await self._stop.wait()
        finally:
            await self._shutdown()
        if sup.error is not None:
            raise BridgeError(sup.reason) from sup.error

    async def _shutdown(self) -> None:
        assert self.source is not None
        self.source.pause()
        if self.supervisor.error is None:
            try:
                await asyncio.wait_for(self._drained(), self.config.drain_timeout)
            except asyncio.TimeoutError:
                log.warning(
                    "%d messages unacked at shutdown; the broker redelivers them", len(self._order)
                )
        self._publish_confirmations()
        await self.supervisor.close()
        self.source.stop()
        await self.link.close()
        if self.metrics_server is not None:
            self.metrics_server.close()

    def render_metrics(self) -> str:
        s = self.stats
        s.inflight = len(self._order)
        s.connected = self.source is not None and self.source.connected.is_set()
        s.cores = self.link.per_core()
        s.rerouted = self.link.rerouted
        s.poisoned = self.link.poisoned
        s.quarantined = self.link.quarantined
        s.task_restarts = self.supervisor.restarts
        return render(s)

    def stop(self) -> None:
        self._stop.set()

    async def _drained(self) -> None:
        assert self._inbox is not None
        while len(self._order) or len(self._inbox):
            await asyncio.sleep(0.02)

    async def _consume(self) -> None:
        assert self._inbox is not None
        while True:
            for msg in await self._inbox.get_all():
                await self._inflight.acquire()
                self._forward(msg)

    def _forward(self, msg: Incoming) -> None:
        self.stats.received += 1
        self._order.add(msg)
        req = self._rate_limited(msg) or classify(
            msg.topic, msg.payload, now_ns=msg.received_ns, max_payload=self.config.max_payload
        )
        batch = None
        if req.WhichOneof("item") == "dead_letter":
            reason = req.dead_letter.reason
            self.stats.dead_letters[reason.split(":")[0][:40]] += 1
            log.debug("dead letter from %r: %s", msg.topic[:200], reason)
        elif req.WhichOneof("item") == "batch":
            batch = (req.batch.tenant, req.batch.device_id, req.batch.seq)
        fut = self.link.send(req)
        self.stats.forwarded += 1
        fut.add_done_callback(partial(self._on_core_ack, msg, batch))

    def _rate_limited(self, msg: Incoming) -> protos.IngestRequest | None:
        """A ``rate_limited`` dead letter if ``msg`` exceeds its device's or tenant's quota.

        The dead letter keeps the payload's size, not the payload: the device was not told its
        batch is stored and sends it again, so keeping a flood's bytes would only cost storage.
        """
        if self.quotas is None:
            return None
        try:
            t = protos.parse_topic(msg.topic)
        except protos.TopicError:
            return None  # classify dead-letters it
        exceeded = self.quotas.admit(t.tenant, t.device_id, len(msg.payload), time.monotonic())
        if exceeded is None:
            return None
        req = dead_letter(msg.topic, b"", f"rate_limited: {exceeded}", msg.received_ns)
        req.dead_letter.payload_size = len(msg.payload)
        return req

    def _on_core_ack(
        self,
        msg: Incoming,
        batch: tuple[str, str, int] | None,
        fut: asyncio.Future[protos.IngestAck],
    ) -> None:
        if fut.cancelled():
            return
        ack = fut.result()
        rejected = ack.status == _REJECTED
        if rejected:
            self.stats.rejected_by_core += 1
            log.warning("core rejected message on %r: %s", msg.topic[:200], ack.reason)
        if batch is not None and self.config.stored_confirmations:
            self.confirmations.add(*batch, rejected=rejected)
            if self.confirmations.full:
                self._confirm_now.set()
        assert self.source is not None
        for done in self._order.complete(msg):
            if self.source.ack(done):
                self.stats.acked += 1
            elif done.qos:
                self.stats.stale_acks_skipped += 1
            self._inflight.release()

    async def _confirm(self) -> None:
        """Publish the coalesced confirmations every ``stored_delay`` (sooner when full)."""
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._confirm_now.wait(), self.config.stored_delay)
            self._confirm_now.clear()
            self._publish_confirmations()

    def _publish_confirmations(self) -> None:
        if self.source is None or not len(self.confirmations):
            return
        for topic, payload in self.confirmations.take():
            if self.source.publish_now(topic, payload):
                self.stats.confirmations += 1
            else:
                self.stats.confirmations_dropped += 1  # the device republishes, and is told then


async def run_bridge(
    config: BridgeConfig,
    *,
    install_signals: bool = True,
    on_ready: Callable[[], None] | None = None,
) -> BridgeStats:
    """Run a bridge until SIGINT/SIGTERM, then drain and return its counters.

    Raises :class:`BridgeError` when a background task failed for good (after draining).
    """
    bridge = Bridge(config)
    if install_signals:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, bridge.stop)
    started = time.monotonic()
    await bridge.run(on_ready)
    log.info("bridge ran %.1fs: %s", time.monotonic() - started, bridge.stats.as_dict())
    return bridge.stats
