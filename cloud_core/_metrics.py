"""Prometheus metrics of the core, exposed in the text format (no client library needed)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cloud_core._store import Outcome

log = logging.getLogger(__name__)

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """Counters and a flush-latency histogram; single event loop, so no locks."""

    def __init__(self) -> None:
        self.batches_stored = 0
        self.duplicates = 0
        self.rejected = 0
        self.dead_letters = 0
        self.presence = 0
        self.flushes = 0
        self.db_retries = 0
        self.queue_depth = 0
        self.streams = 0
        self._hist = [0] * (len(_BUCKETS) + 1)
        self._sum = 0.0

    def observe_flush(self, outcomes: Sequence[Outcome], seconds: float) -> None:
        self.flushes += 1
        for o in outcomes:
            if not o.stored:
                self.rejected += 1
            elif o.duplicate:
                self.duplicates += 1
            else:
                self.batches_stored += 1
        self._sum += seconds
        for i, b in enumerate(_BUCKETS):
            if seconds <= b:
                self._hist[i] += 1
                break
        else:
            self._hist[-1] += 1

    def render(self) -> str:
        lines = []

        def counter(name: str, value: float, help_: str, kind: str = "counter") -> None:
            lines.extend([f"# HELP {name} {help_}", f"# TYPE {name} {kind}", f"{name} {value}"])

        counter("binhai_core_ingest_items_total", self.batches_stored, "Ingest items committed.")
        counter("binhai_core_dedup_hits_total", self.duplicates, "Batches already stored.")
        counter("binhai_core_rejected_total", self.rejected, "Items rejected (dead-lettered).")
        counter("binhai_core_db_retries_total", self.db_retries, "Transient DB failures retried.")
        counter("binhai_core_flushes_total", self.flushes, "Write transactions committed.")
        counter("binhai_core_queue_depth", self.queue_depth, "Requests waiting.", "gauge")
        counter("binhai_core_streams", self.streams, "Open ingest streams.", "gauge")
        lines += [
            "# HELP binhai_core_flush_seconds Write transaction latency.",
            "# TYPE binhai_core_flush_seconds histogram",
        ]
        acc = 0
        for b, n in zip((*_BUCKETS, float("inf")), self._hist, strict=True):
            acc += n
            le = "+Inf" if b == float("inf") else repr(b)
            lines.append(f'binhai_core_flush_seconds_bucket{{le="{le}"}} {acc}')
        lines += [
            f"binhai_core_flush_seconds_sum {self._sum}",
            f"binhai_core_flush_seconds_count {acc}",
        ]
        return "\n".join(lines) + "\n"


async def serve_metrics(metrics: Metrics, host: str, port: int) -> asyncio.Server:
    """A minimal HTTP endpoint answering every GET with the metrics text."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            body = metrics.render().encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
                + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError) as exc:
            log.debug("metrics request dropped: %s", exc)
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)
