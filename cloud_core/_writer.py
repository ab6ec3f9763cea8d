"""The ingest writer: batches requests from all streams into transactions, acks after commit.

Bounded queue: at most ``max_queue`` requests and ``limits.max_queue_bytes`` serialized bytes
wait; ``submit`` waits while either is used up, which is how a slow database slows ingest acks
(backpressure). A flush takes up to ``max_batch`` requests, or whatever arrived within
``max_delay`` seconds, and stops early where the raw windows it has taken would decode to more
than ``limits.max_flush_decoded_bytes`` (one request is always taken).

Failures, item by item: transient database failures (lost connection, restart, deadlock) are
retried with capped backoff while the requests stay pending, and the writer reports itself
unhealthy meanwhile (``on_health(False)``: the core goes NOT_SERVING) until a write commits
again. Any other failure of a flush — the database refusing it, or staging failing on some data
in a way validation did not foresee — splits it and tries its items one by one, so one bad item
cannot block the rest; an item that fails alone is answered REJECTED and kept as a dead letter
with the reason. The flush tasks run under a :class:`protos.Supervisor`: a task that dies
anyway fails the requests it held (their streams fail, the bridges resend) and is restarted; if
it keeps dying the writer fails, ``submit`` raises, ``failed`` is set, and ``close`` raises the
stored error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import protos
from cloud_core._errors import CoreError
from cloud_core._limits import IngestLimits
from cloud_core._metrics import Metrics
from cloud_core._rows import declared_decoded_bytes
from cloud_core._store import RETRYABLE, Outcome, Store, dead_letter_for

log = logging.getLogger(__name__)

OnHealth = Callable[[bool], Awaitable[None]]


@dataclass(slots=True)
class _Pending:
    req: protos.IngestRequest
    fut: asyncio.Future[Outcome]
    submitted: float
    nbytes: int
    decoded: int = field(default=0)


@dataclass(frozen=True, slots=True)
class WriterConfig:
    max_queue: int = 10_000
    max_batch: int = 1_000
    max_delay: float = 0.005
    concurrency: int = 2
    retry_max_delay: float = 5.0


class Writer:
    """Owns the flush tasks; ``submit`` returns a future resolved after commit."""

    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        config: WriterConfig = WriterConfig(),
        *,
        on_health: OnHealth | None = None,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._cfg = config
        self._limits: IngestLimits = store.limits
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(config.max_queue)
        self._queued_bytes = 0
        self._room = asyncio.Event()  # set whenever queued bytes are freed
        self._on_health = on_health
        self.healthy = True
        self.supervisor = protos.Supervisor("ingest writer", on_failure=on_failure)

    def start(self) -> None:
        for i in range(self._cfg.concurrency):
            self.supervisor.spawn(f"writer-{i}", self._run)

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    @property
    def failed(self) -> asyncio.Event:
        return self.supervisor.failed

    def _check(self) -> None:
        if self.supervisor.error is not None:
            raise CoreError(self.supervisor.reason) from self.supervisor.error

    async def submit(self, req: protos.IngestRequest) -> asyncio.Future[Outcome]:
        self._check()
        loop = asyncio.get_running_loop()
        nbytes = req.ByteSize()
        # One request is always admitted, however large (the gRPC limit bounds it).
        while self._queued_bytes and self._queued_bytes + nbytes > self._limits.max_queue_bytes:
            self._room.clear()
            await self._room.wait()
        self._queued_bytes += nbytes
        fut: asyncio.Future[Outcome] = loop.create_future()
        item = _Pending(req, fut, loop.time(), nbytes, declared_decoded_bytes(req))
        await self._queue.put(item)
        self._metrics.queue_depth = self._queue.qsize()
        return fut

    async def drain(self) -> None:
        """Wait until everything submitted so far is committed."""
        await self._queue.join()

    async def close(self) -> None:
        """Stop the flush tasks; raise :class:`CoreError` if the writer had failed."""
        await self.supervisor.close()
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if not item.fut.done():
                item.fut.cancel()
        self._check()

    async def _run(self) -> None:
        items: list[_Pending] = []
        carry: _Pending | None = None
        try:
            while True:
                first, carry = carry, None
                items = [first if first is not None else await self._queue.get()]
                carry = await self._take_more(items)
                await self._flush(items)
                self._done(items)
                items = []
        except BaseException as exc:
            held = items + ([carry] if carry is not None else [])
            for item in held:
                if not item.fut.done():
                    item.fut.set_exception(CoreError(f"ingest writer failed: {exc!r}"))
            self._done(held)
            raise

    async def _take_more(self, items: list[_Pending]) -> _Pending | None:
        """Add what is queued to ``items`` (up to ``max_batch`` and the flush's decode budget),
        waiting once up to ``max_delay`` for more; return a request taken that did not fit."""
        budget = self._limits.max_flush_decoded_bytes - items[0].decoded
        for wait in (False, True):
            if wait:
                if len(items) >= self._cfg.max_batch or self._cfg.max_delay <= 0:
                    break
                await asyncio.sleep(self._cfg.max_delay)
            while len(items) < self._cfg.max_batch and not self._queue.empty():
                item = self._queue.get_nowait()
                if item.decoded > budget:
                    return item
                budget -= item.decoded
                items.append(item)
        return None

    def _done(self, items: Sequence[_Pending]) -> None:
        for _ in items:
            self._queue.task_done()
        self._metrics.queue_depth = self._queue.qsize()
        self._queued_bytes -= sum(item.nbytes for item in items)
        self._room.set()

    async def _flush(self, items: Sequence[_Pending]) -> None:
        reqs = [item.req for item in items]
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        try:
            outcomes = await self._write_retrying(reqs)
        except Exception as exc:  # refused by the database, or staging failed on this data
            if len(items) > 1:
                log.warning("a flush of %d failed (%s); retrying one by one", len(items), exc)
                for item in items:
                    await self._flush([item])
                return
            log.error("ingest item refused: %s", exc)
            outcomes = [await self._reject(reqs[0], f"could not be stored: {exc}")]
        now = loop.time()
        self._metrics.observe_flush(reqs, outcomes, now - t0)
        self._metrics.conformance_mismatches = self._store.conformance_mismatches
        self._metrics.windows_anomalous = self._store.windows_anomalous
        self._metrics.alerts_opened = self._store.alerts_opened
        for item, outcome in zip(items, outcomes, strict=True):
            self._metrics.batch_seconds.observe(now - item.submitted)
            if not item.fut.done():
                item.fut.set_result(outcome)

    async def _reject(self, req: protos.IngestRequest, reason: str) -> Outcome:
        dl = dead_letter_for(req, reason)
        await self._write_retrying([protos.IngestRequest(dead_letter=dl)])
        return Outcome(protos.IngestAck.Status.STATUS_REJECTED, reason=reason[:500])

    async def _write_retrying(self, reqs: Sequence[protos.IngestRequest]) -> list[Outcome]:
        backoff = protos.Backoff(0.05, self._cfg.retry_max_delay)
        while True:
            try:
                outcomes = await self._store.write(reqs)
            except RETRYABLE as exc:
                self._metrics.db_retries += 1
                await self._set_health(False)
                delay = backoff.next_delay()
                log.warning("database unavailable (%s); retrying in %.2fs", exc, delay)
                await asyncio.sleep(delay)
                continue
            await self._set_health(True)
            return outcomes

    async def _set_health(self, ok: bool) -> None:
        if ok != self.healthy:
            self.healthy = ok
            log.log(logging.INFO if ok else logging.WARNING, "storage %s", "back" if ok else "down")
            if self._on_health is not None:
                await self._on_health(ok)
