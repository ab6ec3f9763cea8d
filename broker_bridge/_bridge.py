"""The bridge service: MQTT in, gRPC to the cores, MQTT acks only after a core's durable ack.

Also forwards the cores' downlinks to devices and serves Prometheus metrics.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import protos
from broker_bridge._acks import AckOrder, Incoming
from broker_bridge._downlink import forward_downlinks
from broker_bridge._handoff import Handoff
from broker_bridge._link import CoreLink
from broker_bridge._metrics import BridgeStats, render
from broker_bridge._mqtt import MqttSource, TlsFiles
from broker_bridge._validate import DEFAULT_MAX_PAYLOAD, classify

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BridgeConfig:
    mqtt_url: str
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


class Bridge:
    """Runs until :meth:`stop`; every message is acked only after the core has it durably."""

    def __init__(self, config: BridgeConfig) -> None:
        self.config = config
        self.stats = BridgeStats()
        self._url = protos.MqttUrl.parse(config.mqtt_url)
        self._inflight = asyncio.Semaphore(config.max_inflight)
        self._order = AckOrder()
        self._stop = asyncio.Event()
        self.link = CoreLink(config.core_addrs)
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
        self.link.start()
        source.start()
        tasks = [asyncio.create_task(self._consume(), name="consume")]
        tasks += [
            asyncio.create_task(
                forward_downlinks(
                    channel,
                    source.publish,
                    self.stats.downlinks,
                    bridge_name=self.config.client_id,
                    addr=addr,
                ),
                name=f"downlinks-{addr}",
            )
            for addr, channel in self.link.channels.items()
        ]
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
            await self._shutdown(tasks)

    async def _shutdown(self, tasks: list[asyncio.Task[None]]) -> None:
        assert self.source is not None
        self.source.pause()
        try:
            await asyncio.wait_for(self._drained(), self.config.drain_timeout)
        except asyncio.TimeoutError:
            log.warning(
                "%d messages unacked at shutdown; the broker redelivers them", len(self._order)
            )
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
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
        req = classify(
            msg.topic, msg.payload, now_ns=msg.received_ns, max_payload=self.config.max_payload
        )
        if req.WhichOneof("item") == "dead_letter":
            reason = req.dead_letter.reason
            self.stats.dead_letters[reason.split(":")[0][:40]] += 1
            log.debug("dead letter from %r: %s", msg.topic[:200], reason)
        fut = self.link.send(req)
        self.stats.forwarded += 1
        fut.add_done_callback(partial(self._on_core_ack, msg))

    def _on_core_ack(self, msg: Incoming, fut: asyncio.Future[protos.IngestAck]) -> None:
        if fut.cancelled():
            return
        ack = fut.result()
        if ack.status == protos.IngestAck.Status.STATUS_REJECTED:
            self.stats.rejected_by_core += 1
            log.warning("core rejected message on %r: %s", msg.topic[:200], ack.reason)
        assert self.source is not None
        for done in self._order.complete(msg):
            if self.source.ack(done):
                self.stats.acked += 1
            elif done.qos:
                self.stats.stale_acks_skipped += 1
            self._inflight.release()


async def run_bridge(
    config: BridgeConfig,
    *,
    install_signals: bool = True,
    on_ready: Callable[[], None] | None = None,
) -> BridgeStats:
    """Run a bridge until SIGINT/SIGTERM, then drain and return its counters."""
    bridge = Bridge(config)
    if install_signals:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, bridge.stop)
    started = time.monotonic()
    await bridge.run(on_ready)
    log.info("bridge ran %.1fs: %s", time.monotonic() - started, bridge.stats.as_dict())
    return bridge.stats
