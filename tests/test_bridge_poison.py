"""Bridge hardening: end-to-end confirmations, a message that crashes cores, stale acks,
supervised tasks. Cores are real gRPC servers on port 0 (a fake Ingest servicer where a core
must crash), never mocks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import grpc

import protos
from broker_bridge import CoreLink, Incoming, MqttSource
from broker_bridge._confirm import Confirmations, spans
from broker_bridge._handoff import Handoff
from tests.fix_stack import build_batch

STORED = protos.IngestAck.Status.STATUS_STORED
REJECTED = protos.IngestAck.Status.STATUS_REJECTED


def test_confirmations_are_coalesced_per_device_into_ranges() -> None:
    assert spans([5, 3, 4, 9, 10, 1, 4]) == [(1, 1), (3, 5), (9, 10)]
    c = Confirmations(max_devices=2)
    for seq in (1, 2, 3, 7):
        c.add("t", "a", seq)
    c.add("t", "a", 5, rejected=True)
    assert not c.full
    c.add("t", "b", 1)
    assert c.full
    out = dict(c.take())
    assert len(c) == 0 and set(out) == {"binhai/v1/t/a/down", "binhai/v1/t/b/down"}
    cmd = protos.Command()
    cmd.ParseFromString(out["binhai/v1/t/a/down"])
    assert cmd.id == "" and cmd.WhichOneof("body") == "stored"
    assert [(s.first, s.last) for s in cmd.stored.stored] == [(1, 3), (7, 7)]
    assert [(s.first, s.last) for s in cmd.stored.rejected] == [(5, 5)]


class _CrashingCore(protos.ingest_pb2_grpc.IngestServicer):
    """Acks what it reads; reading a batch of device "poison" kills the server at once (as a
    decoder crash would kill a core), before anything of that read is acked."""

    def __init__(self) -> None:
        self.crash = asyncio.Event()
        self.batches: dict[str, int] = {}
        self.dead_letters: list[protos.DeadLetter] = []

    async def Stream(
        self, request_iterator: AsyncIterator[protos.IngestRequest], context: object
    ) -> AsyncIterator[protos.IngestAck]:
        async for msg in request_iterator:
            items = msg.bundle.items if msg.WhichOneof("item") == "bundle" else [msg]
            if any(r.batch.device_id == "poison" for r in items):
                self.crash.set()
                await asyncio.sleep(3600)
            acks = []
            for r in items:
                if r.WhichOneof("item") == "dead_letter":
                    self.dead_letters.append(r.dead_letter)
                else:
                    key = f"{r.batch.device_id}/{r.batch.seq}"
                    self.batches[key] = self.batches.get(key, 0) + 1
                acks.append(protos.IngestAck(ref=r.ref, status=STORED))
            first = acks[0]
            first.more.extend(acks[1:])
            yield first


def test_a_message_that_crashes_cores_is_dead_lettered_and_nothing_else(run) -> None:
    async def go():
        core = _CrashingCore()
        port = 0
        crashes = 0

        async def serve() -> grpc.aio.Server:
            nonlocal port
            server = grpc.aio.server()
            protos.ingest_pb2_grpc.add_IngestServicer_to_server(core, server)
            port = server.add_insecure_port(f"127.0.0.1:{port}")
            await server.start()
            return server

        server = await serve()
        link = CoreLink([f"127.0.0.1:{port}"], max_strikes=3)
        link.start()
        try:
            while not link.per_core()[f"127.0.0.1:{port}"]["up"]:
                await asyncio.sleep(0.01)
            t = "t-poison"
            futs = [link.send(protos.IngestRequest(batch=build_batch(t, "ok", s))) for s in (1, 2)]
            await asyncio.gather(*futs)
            futs += [link.send(protos.IngestRequest(batch=build_batch(t, "poison", 1)))]
            futs += [link.send(protos.IngestRequest(batch=build_batch(t, "ok", s))) for s in (3, 4)]
            deadline = time.monotonic() + 60
            while not all(f.done() for f in futs):
                assert time.monotonic() < deadline, (crashes, link.quarantined)
                if core.crash.is_set():  # the core died: a supervisor restarts it
                    crashes += 1
                    await server.stop(0)
                    core.crash.clear()
                    server = await serve()
                await asyncio.sleep(0.01)
            return [f.result() for f in futs], core, crashes, link.poisoned
        finally:
            await link.close()
            await server.stop(0)

    acks, core, crashes, poisoned = run(go())
    assert [a.status for a in acks] == [STORED, STORED, REJECTED, STORED, STORED]
    assert "crashed a core" in acks[2].reason and crashes == 3 and poisoned == 1
    assert [d.topic for d in core.dead_letters] == ["binhai/v1/t-poison/poison/up"]
    poison = protos.TelemetryBatch()
    poison.ParseFromString(core.dead_letters[0].payload)
    assert (poison.device_id, poison.seq) == ("poison", 1)
    assert set(core.batches) == {"ok/1", "ok/2", "ok/3", "ok/4"}  # innocents stored, none lost


def test_no_puback_for_a_message_of_a_connection_that_dropped(run) -> None:
    """The epoch is bumped when the connection drops, under the lock an ack holds: an ack of
    the old connection's message is never queued, even before paho has reconnected."""

    async def go():
        loop = asyncio.get_running_loop()
        src = MqttSource(
            protos.MqttUrl.parse("mqtt://127.0.0.1:1"),
            Handoff(loop, 10),
            loop,
            client_id="t",
            share_group=None,
            receive_maximum=10,
        )
        sent: list[int] = []
        src._client.ack = lambda mid, qos: sent.append(mid)  # type: ignore[method-assign]
        src._on_connect(src._client, None, None, 0, None)
        msg = Incoming(7, 1, "binhai/v1/t/d/up", b"", src.epoch, 0)
        src._on_disconnect(None, None, None, "lost", None)  # paho's thread, before reconnecting
        stale = src.ack(msg)
        src._on_connect(src._client, None, None, 0, None)
        fresh = src.ack(Incoming(8, 1, "binhai/v1/t/d/up", b"", src.epoch, 0))
        return stale, fresh, sent

    stale, fresh, sent = run(go())
    assert (stale, fresh, sent) == (False, True, [8])


def test_a_supervisor_restarts_a_failing_task_then_gives_up_with_the_reason(run) -> None:
    async def go():
        reasons: list[str] = []
        sup = protos.Supervisor(
            "svc", max_restarts=2, first_delay=0.001, max_delay=0.001, on_failure=reasons.append
        )
        runs = []

        async def flaky() -> None:
            runs.append(1)
            raise RuntimeError(f"broken {len(runs)}")

        async def forever() -> None:
            await asyncio.sleep(3600)

        sup.spawn("flaky", flaky)
        sup.spawn("steady", forever)
        await asyncio.wait_for(sup.failed.wait(), 5)
        names = sup.names
        await sup.close()
        return runs, reasons, sup, names

    runs, reasons, sup, names = run(go())
    assert len(runs) == 3 and sup.restarts == 2
    assert reasons == ["svc: task flaky failed: RuntimeError: broken 3"] == [sup.reason]
    assert names == ["steady"] and isinstance(sup.error, RuntimeError)
