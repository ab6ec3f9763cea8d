"""The ingest writer: batches requests from all streams into transactions, acks after commit.

Bounded queue (``max_queue`` requests; ``submit`` waits when it is full, which is how a slow
database slows ingest acks: backpressure). A flush takes up to ``max_batch`` requests or whatever
arrived within ``max_delay`` seconds. Transient database failures (lost connection, restart,
deadlock) are retried with capped exponential backoff, keeping the requests pending; a flush the
database rejects for its data is split and retried item by item so one bad item cannot block the
rest — that item is answered REJECTED and kept as a dead letter.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass

import protos
from cloud_core._errors import CoreError, StorageError
from cloud_core._metrics import Metrics
from cloud_core._store import RETRYABLE, Outcome, Store, dead_letter_for

log = logging.getLogger(__name__)

# (request, its future, loop time at submit)
_Pending = tuple[protos.IngestRequest, "asyncio.Future[Outcome]", float]


@dataclass(frozen=True, slots=True)
class WriterConfig:
    max_queue: int = 10_000
    max_batch: int = 1_000
    max_delay: float = 0.005
    concurrency: int = 2
    retry_max_delay: float = 5.0


class Writer:
    """Owns the flush tasks; ``submit`` returns a future resolved after commit."""

    def __init__(self, store: Store, metrics: Metrics, config: WriterConfig = WriterConfig()):
        self._store = store
        self._metrics = metrics
        self._cfg = config
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(config.max_queue)
        self._tasks: list[asyncio.Task[None]] = []
        self._error: BaseException | None = None

    def start(self) -> None:
        for i in range(self._cfg.concurrency):
            self._tasks.append(asyncio.create_task(self._run(), name=f"writer-{i}"))

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    async def submit(self, req: protos.IngestRequest) -> asyncio.Future[Outcome]:
        if self._error is not None:
            raise CoreError("ingest writer failed") from self._error
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Outcome] = loop.create_future()
        await self._queue.put((req, fut, loop.time()))
        self._metrics.queue_depth = self._queue.qsize()
        return fut

    async def drain(self) -> None:
        """Wait until everything submitted so far is committed."""
        await self._queue.join()

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        while not self._queue.empty():
            _, fut, _ = self._queue.get_nowait()
            if not fut.done():
                fut.cancel()

    async def _take(self) -> list[_Pending]:
        """Whatever is queued (up to ``max_batch``), waiting once up to ``max_delay`` for more."""
        items = [await self._queue.get()]
        self._drain_into(items)
        if len(items) < self._cfg.max_batch and self._cfg.max_delay > 0:
            await asyncio.sleep(self._cfg.max_delay)
            self._drain_into(items)
        return items

    def _drain_into(self, items: list[_Pending]) -> None:
        queue, limit = self._queue, self._cfg.max_batch
        while len(items) < limit and not queue.empty():
            items.append(queue.get_nowait())

    async def _run(self) -> None:
        while True:
            items = await self._take()
            try:
                await self._flush(items)
            except BaseException as exc:
                if not isinstance(exc, asyncio.CancelledError):
                    log.exception("ingest writer crashed")
                    self._error = exc
                for _, fut, _ in items:
                    if not fut.done():
                        fut.set_exception(CoreError("ingest writer failed"))
                raise
            finally:
                for _ in items:
                    self._queue.task_done()
                self._metrics.queue_depth = self._queue.qsize()

    async def _flush(self, items: Sequence[_Pending]) -> None:
        reqs = [item[0] for item in items]
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        try:
            outcomes = await self._write_retrying(reqs)
        except StorageError as exc:
            if len(items) == 1:
                req = reqs[0]
                log.error("database refused one ingest item: %s", exc)
                outcomes = [await self._reject(req, f"database refused: {exc}")]
            else:
                log.warning("database refused a flush of %d; retrying one by one", len(items))
                for item in items:
                    await self._flush([item])
                return
        now = loop.time()
        self._metrics.observe_flush(reqs, outcomes, now - t0)
        self._metrics.conformance_mismatches = self._store.conformance_mismatches
        for (_, fut, submitted), outcome in zip(items, outcomes, strict=True):
            self._metrics.batch_seconds.observe(now - submitted)
            if not fut.done():
                fut.set_result(outcome)

    async def _reject(self, req: protos.IngestRequest, reason: str) -> Outcome:
        dl = dead_letter_for(req, reason)
        await self._write_retrying([protos.IngestRequest(dead_letter=dl)])
        return Outcome(protos.IngestAck.Status.STATUS_REJECTED, reason=reason[:500])

    async def _write_retrying(self, reqs: Sequence[protos.IngestRequest]) -> list[Outcome]:
        delay = 0.05
        while True:
            try:
                return await self._store.write(reqs)
            except RETRYABLE as exc:
                self._metrics.db_retries += 1
                log.warning("database unavailable (%s); retrying in %.2fs", exc, delay)
                await asyncio.sleep(delay * (0.5 + random.random() / 2))
                delay = min(delay * 2, self._cfg.retry_max_delay)
