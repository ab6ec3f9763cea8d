"""The bridge service: MQTT in, gRPC to the core, MQTT acks only after the core's durable ack."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import protos
from broker_bridge._acks import AckOrder, Incoming
from broker_bridge._link import CoreLink
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


@dataclass
class BridgeStats:
    received: int = 0
    forwarded: int = 0
    acked: int = 0
    stale_acks_skipped: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    rejected_by_core: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "received": self.received,
            "forwarded": self.forwarded,
            "acked": self.acked,
            "stale_acks_skipped": self.stale_acks_skipped,
            "dead_letters": sum(self.dead_letters.values()),
            "rejected_by_core": self.rejected_by_core,
        }


class Bridge:
    """Runs until :meth:`stop`; every message is acked only after the core has it durably."""

    def __init__(self, config: BridgeConfig) -> None:
        self.config = config
        self.stats = BridgeStats()
        self._url = protos.MqttUrl.parse(config.mqtt_url)
        self._queue: asyncio.Queue[Incoming] = asyncio.Queue(config.max_inflight)
        self._inflight = asyncio.Semaphore(config.max_inflight)
        self._order = AckOrder()
        self._stop = asyncio.Event()
        self.link = CoreLink(config.core_addrs)
        self.source: MqttSource | None = None

    async def run(self, on_ready: Callable[[], None] | None = None) -> None:
        loop = asyncio.get_running_loop()
        self.source = MqttSource(
            self._url,
            self._queue,
            loop,
            client_id=self.config.client_id,
            share_group=self.config.share_group,
            tenant=self.config.tenant,
            receive_maximum=self.config.max_inflight,
            tls=self.config.tls,
        )
        self.link.start()
        self.source.start()
        consumer = asyncio.create_task(self._consume())
        try:
            if on_ready is not None:
                stop_wait = asyncio.create_task(self._stop.wait())
                sub_wait = asyncio.create_task(self.source.subscribed.wait())
                await asyncio.wait({stop_wait, sub_wait}, return_when=asyncio.FIRST_COMPLETED)
                sub_wait.cancel()
                if self.source.subscribed.is_set():
                    on_ready()
            await self._stop.wait()
        finally:
            self.source.pause()
            try:
                await asyncio.wait_for(self._drained(), self.config.drain_timeout)
            except asyncio.TimeoutError:
                log.warning(
                    "%d messages unacked at shutdown; the broker redelivers them", len(self._order)
                )
            consumer.cancel()
            self.source.stop()
            await self.link.close()

    def stop(self) -> None:
        self._stop.set()

    async def _drained(self) -> None:
        while len(self._order) or not self._queue.empty():
            await asyncio.sleep(0.02)

    async def _consume(self) -> None:
        while True:
            msg = await self._queue.get()
            await self._inflight.acquire()
            self.stats.received += 1
            self._order.add(msg)
            req = classify(
                msg.topic, msg.payload, now_ns=msg.received_ns, max_payload=self.config.max_payload
            )
            if req.WhichOneof("item") == "dead_letter":
                reason = req.dead_letter.reason
                self.stats.dead_letters[reason.split(":")[0]] += 1
                log.warning("dead letter from %r: %s", msg.topic[:200], reason)
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
