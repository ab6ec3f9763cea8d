"""Downlink forwarding: a ``Control.Downlinks`` stream to every core, published to devices.

Each core hands a command to one of its connected bridges; this side publishes it QoS1 as a
serialized :class:`protos.Command` on ``binhai/v1/{tenant}/{device}/down``. In-flight publishes
are bounded by the MQTT adapter's slots: while they are used up, this stops reading the stream
and gRPC flow control holds the core back. A broken stream is reopened with capped backoff.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc

import protos
from broker_bridge._errors import BrokerError
from broker_bridge._link import refusal
from protos import Backoff

__all__ = ["DownlinkStats", "forward_downlinks"]

log = logging.getLogger(__name__)

Publish = Callable[[str, bytes], Awaitable[None]]


@dataclass
class DownlinkStats:
    published: int = 0
    invalid: int = 0
    failed: int = 0
    streams_up: int = 0


async def forward_downlinks(
    channel: grpc.aio.Channel,
    publish: Publish,
    stats: DownlinkStats,
    *,
    bridge_name: str,
    addr: str,
) -> None:
    """Keep a Downlinks stream to one core open and publish what it sends, until cancelled."""
    stub = protos.control_pb2_grpc.ControlStub(channel)
    backoff = Backoff()
    while True:
        call = stub.Downlinks(protos.ControlSubscribe(bridge=bridge_name))
        try:
            await call.wait_for_connection()
            stats.streams_up += 1
            backoff.reset()
            try:
                async for dl in call:
                    await _publish_one(dl, publish, stats)
            finally:
                stats.streams_up -= 1
            log.info("core %s ended the downlink stream", addr)
        except grpc.aio.AioRpcError as exc:
            refusal(exc, addr)
            log.warning("downlink stream from %s failed: %s", addr, exc.code().name)
        await backoff.wait()


async def _publish_one(dl: protos.Downlink, publish: Publish, stats: DownlinkStats) -> None:
    try:
        topic = protos.topic_for(dl.tenant, dl.device_id, "down")
    except protos.TopicError as exc:
        stats.invalid += 1
        log.error("downlink %s not published: %s", dl.command.id, exc)
        return
    try:
        await publish(topic, dl.command.SerializeToString())
    except BrokerError as exc:
        stats.failed += 1
        log.error("downlink %s not published: %s", dl.command.id, exc)
        return
    stats.published += 1
