"""The ingest writer: batches requests from all streams into transactions, acks after commit.

Bounded queue: at most ``max_queue`` requests and ``limits.max_queue_bytes`` serialized bytes
wait; ``submit`` waits while either is used up, which is how a slow database slows ingest acks
(backpressure). A flush takes up to ``max_batch`` requests, or whatever arrived within
``max_delay`` seconds, and stops early where the raw windows it has taken would decode to more
than ``limits.max_flush_decoded_bytes`` (one request is always taken).

Requests that arrive together (a bridge's bundle) are queued and answered together, in parts
that each fit one flush (``max_batch`` requests and the decode budget, or one request): one
queue entry and one future per part, not per request (:meth:`submit_many`).

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
from dataclasses import dataclass
from functools import partial

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
    """Requests submitted together, in one flush, answered together (one outcome each)."""

    reqs: list[protos.IngestRequest]
    fut: asyncio.Future[list[Outcome]]
    submitted: float
    nbytes: int
    decoded: int


#: A part of the requests given to :meth:`Writer.submit_many` and its outcomes' future.
Part = tuple[list[protos.IngestRequest], "asyncio.Future[list[Outcome]]"]


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
        # Bounded by the requests and bytes it holds (``submit_many`` waits), not by entries.
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._queued = 0
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
        """Requests waiting for a flush."""
        return self._queued

    @property
    def failed(self) -> asyncio.Event:
        return self.supervisor.failed

    def _check(self) -> None:
        if self.supervisor.error is not None:
            raise CoreError(self.supervisor.reason) from self.supervisor.error

    async def submit(self, req: protos.IngestRequest) -> asyncio.Future[Outcome]:
        """Queue ``req``; the future resolves with its outcome after its flush commits."""
        ((_, part),) = await self.submit_many([req])
        fut: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        part.add_done_callback(partial(_first, fut))
        return fut

    async def submit_many(self, reqs: Sequence[protos.IngestRequest]) -> list[Part]:
        """Queue ``reqs`` in parts that each fit one flush; return each part with the future
        of its outcomes (in order), resolved after that flush commits."""
        self._check()
        loop = asyncio.get_running_loop()
        cfg, limits = self._cfg, self._limits
        parts: list[Part] = []
        reqs = list(reqs)
        at = 0
        while at < len(reqs):
            # one part: up to max_batch requests within the flush's decode budget (or one)
            budget = limits.max_flush_decoded_bytes
            part: list[protos.IngestRequest] = []
            nbytes = decoded = 0
            while at < len(reqs) and len(part) < cfg.max_batch:
                req = reqs[at]
                d = declared_decoded_bytes(req)
                if part and d > budget - decoded:
                    break
                part.append(req)
                decoded += d
                nbytes += req.ByteSize()
                at += 1
            # One part is always admitted, however large (the gRPC limit bounds it).
            while self._queued and (
                self._queued + len(part) > cfg.max_queue
                or self._queued_bytes + nbytes > limits.max_queue_bytes
            ):
                self._room.clear()
                await self._room.wait()
            self._check()
            self._queued += len(part)
            self._queued_bytes += nbytes
            fut: asyncio.Future[list[Outcome]] = loop.create_future()
            self._queue.put_nowait(_Pending(part, fut, loop.time(), nbytes, decoded))
            parts.append((part, fut))
        self._metrics.queue_depth = self._queued
        return parts

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
        """Add what is queued to ``items`` (up to ``max_batch`` requests and the flush's decode
        budget), waiting once up to ``max_delay`` for more; return a part taken that did not
        fit."""
        budget = self._limits.max_flush_decoded_bytes - items[0].decoded
        count, most = len(items[0].reqs), self._cfg.max_batch
        for wait in (False, True):
            if wait:
                if count >= most or self._cfg.max_delay <= 0:
                    break
                await asyncio.sleep(self._cfg.max_delay)
            while count < most and not self._queue.empty():
                item = self._queue.get_nowait()
                if item.decoded > budget or count + len(item.reqs) > most:
                    return item
                budget -= item.decoded
                count += len(item.reqs)
                items.append(item)
        return None

    def _done(self, items: Sequence[_Pending]) -> None:
        for item in items:
            self._queue.task_done()
            self._queued -= len(item.reqs)
            self._queued_bytes -= item.nbytes
        self._metrics.queue_depth = self._queued
        self._room.set()

    async def _flush(self, items: Sequence[_Pending]) -> None:
        reqs = [req for item in items for req in item.reqs]
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        outcomes = await self._outcomes(reqs)
        now = loop.time()
        self._metrics.observe_flush(reqs, outcomes, now - t0)
        self._metrics.conformance_mismatches = self._store.conformance_mismatches
        self._metrics.windows_anomalous = self._store.windows_anomalous
        self._metrics.samples_stored = self._store.samples_stored
        self._metrics.alerts_opened = self._store.alerts_opened
        at = 0
        for item in items:
            n = len(item.reqs)
            latency = now - item.submitted
            for _ in range(n):
                self._metrics.batch_seconds.observe(latency)
            if not item.fut.done():
                item.fut.set_result(outcomes[at : at + n])
            at += n

    async def _outcomes(self, reqs: list[protos.IngestRequest]) -> list[Outcome]:
        """Write ``reqs`` in one transaction; if that fails for anything but a transient
        database failure, write them one by one, and reject (dead-letter) one that fails alone."""
        try:
            return await self._write_retrying(reqs)
        except Exception as exc:  # refused by the database, or staging failed on this data
            if len(reqs) > 1:
                log.warning("a flush of %d failed (%s); retrying one by one", len(reqs), exc)
                out: list[Outcome] = []
                for req in reqs:
                    out += await self._outcomes([req])
                return out
            log.error("ingest item refused: %s", exc)
            return [await self._reject(reqs[0], f"could not be stored: {exc}")]

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


def _first(fut: asyncio.Future[Outcome], part: asyncio.Future[list[Outcome]]) -> None:
    """Resolve ``fut`` like ``part``, with the first of its outcomes."""
    if fut.done():
        return
    if part.cancelled():
        fut.cancel()
    elif (exc := part.exception()) is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(part.result()[0])
