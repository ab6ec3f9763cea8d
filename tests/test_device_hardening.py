"""Device hardening: refusals, publish errors, closing, transactions, configuration errors.

The engine is driven directly, in virtual time, through the shipped FakeTransport (the seam).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

import protos
from device_sdk import ConfigError, Device, FakeTransport, MqttOptions
from device_sdk import _device as device_module
from device_sdk._clock import Clock
from device_sdk._engine import Engine, EngineConfig
from device_sdk._events import Event, EventSink
from device_sdk._outbox import Outbox

S = 1_000_000_000


class Harness:
    """An engine on a FakeTransport with a virtual monotonic clock."""

    def __init__(self, tmp: Path, transport: FakeTransport, **config: object) -> None:
        self.now = 1_000 * S
        self.events: list[Event] = []
        self.transport = transport
        self.outbox = Outbox(tmp / "dev", max_bytes=1 << 20)
        self.engine = Engine(
            "d1",
            tenant="t",
            outbox=self.outbox,
            transport=transport,
            clock=Clock(lambda: 1_700_000_000 * S, lambda: self.now),
            config=EngineConfig(**config),  # type: ignore[arg-type]
        )
        sink = EventSink(self.events.append, lambda m: self.events.append(m) is None)
        transport.start(sink, client_id="t:d1", will_topic="w", will_payload=b"")
        self.run()

    def run(self, advance_s: float = 0.0) -> None:
        self.now += round(advance_s * S)
        for _ in range(100):
            while self.events:
                self.engine.handle(self.events.pop(0))
            self.engine.tick()
            if not self.events:
                return

    def batch(self) -> int:
        """A heartbeat-only batch into the outbox; its seq."""
        self.engine.close_batch(protos.Health(battery=0.5))
        return self.outbox.next_seq - 1

    def up(self) -> list[protos.TelemetryBatch]:
        out = []
        for p in self.transport.published:
            if p.topic.endswith("/up"):
                b = protos.TelemetryBatch()
                b.ParseFromString(p.payload)
                out.append(b)
        return out


def test_a_permanent_refusal_backs_off_then_evicts_with_reason_refused(tmp_path: Path) -> None:
    fake = FakeTransport(auto_ack=False, confirm=False)
    h = Harness(tmp_path, fake)
    seq = h.batch()
    h.run()
    for attempt in range(3):
        assert [b.seq for b in h.up()] == [seq] * (attempt + 1)
        fake.refuse(reason="0x87 Not authorized")
        h.run()
        h.run(0.5)
        assert len(h.up()) == attempt + 1  # backing off, not retried at once
        h.run(2.0 * 2**attempt)
    st = h.engine.stats()
    assert st["batches_refused"] == 1 and st["publish_refused"] == 3
    assert h.outbox.depth == 0 and st["outbox_evicted_batches"] == 1
    nxt = h.batch()
    h.run()
    last = h.up()[-1]
    assert last.seq == nxt and [(r.first, r.last, r.reason) for r in last.evicted] == [
        (seq, seq, "refused")
    ]


class _FlakyTransport(FakeTransport):
    """A FakeTransport whose client refuses the first ``n`` publishes (queue full, ...)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.failures = n

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> int:
        if topic.endswith("/up") and self.failures:
            self.failures -= 1
            raise OSError("publish refused by the client: out of memory")
        return super().publish(topic, payload, qos=qos, retain=retain)


def test_publish_errors_back_off_the_batch_and_never_stop_the_engine(tmp_path: Path) -> None:
    h = Harness(tmp_path, _FlakyTransport(1))
    first, second = h.batch(), h.batch()
    h.run()
    assert h.engine.stats()["publish_errors"] == 1
    assert [b.seq for b in h.up()] == [second]  # the failed one does not block the next
    h.run(1.0)
    h.run(2.0)
    assert sorted(b.seq for b in h.up()) == [first, second]
    assert h.outbox.depth == 0 and h.engine.stats()["batches_acked"] == 2


def test_confirmations_drop_batches_and_everything_unconfirmed_goes_again_on_reconnect(
    tmp_path: Path,
) -> None:
    fake = FakeTransport(confirm=False)
    h = Harness(tmp_path, fake)
    seqs = [h.batch() for _ in range(3)]
    h.run()
    assert h.outbox.depth == 3  # PUBACKed, not confirmed: kept
    fake.confirm("binhai/v1/t/d1/down", [seqs[1]])
    h.run()
    assert h.outbox.depth == 2 and h.engine.stats()["batches_acked"] == 1
    fake.disconnect()
    h.run()
    fake.connect()  # the broker may have lost them: they go again at once, same seqs
    h.run()
    assert sorted(b.seq for b in h.up()) == sorted([*seqs, seqs[0], seqs[2]])
    fake.confirm("binhai/v1/t/d1/down", [seqs[0]])
    fake.confirm("binhai/v1/t/d1/down", [seqs[2]], rejected=True)
    h.run()
    st = h.engine.stats()
    assert h.outbox.depth == 0 and (st["batches_acked"], st["batches_rejected"]) == (2, 1)
    assert st["commands_nacked"] == 0 and all(not b.acks for b in h.up())  # never answered


def test_confirmation_and_eviction_are_one_transaction_each(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "ob", max_bytes=800)
    outside: list[str] = []

    def trace(sql: str) -> None:
        if sql.split()[0].upper() in ("INSERT", "UPDATE", "DELETE") and not ob._db.in_transaction:
            outside.append(sql)

    for _ in range(10):
        ob.append(lambda seq, evs: (bytes(500), bytes(100)), priority=0.0, anomaly=False)
    ob._db.set_trace_callback(trace)
    evicted = ob.evict(set())
    assert evicted and ob.nbytes <= 800
    seqs = [s for s in range(1, 11) if s not in {e.first for e in evicted}]
    assert ob.confirm([(seqs[0], seqs[-1])]) == seqs and ob.depth == 0
    ob._db.set_trace_callback(None)
    assert outside == []
    ob.close()


def test_configuration_errors_raise_before_any_file_or_thread(tmp_path: Path) -> None:
    threads = threading.active_count()
    for kw in (
        {"broker_url": "mqtts://127.0.0.1:8883", "mqtt": MqttOptions(ca_file=str(tmp_path / "x"))},
        {"broker_url": "mqtts://127.0.0.1:8883", "mqtt": MqttOptions(key_file="k.pem")},
        {"broker_url": "ftp://nowhere"},
        {"broker_url": "mqtt://127.0.0.1:1", "confirm": "never"},
    ):
        with pytest.raises(ConfigError):
            Device("d1", tenant="t", data_dir=tmp_path / "dev", **kw)  # type: ignore[arg-type]
    assert not (tmp_path / "dev").exists() and threading.active_count() == threads


class _StuckTransport(FakeTransport):
    """Its first batch publish blocks until released (a network call that hangs)."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> int:
        if topic.endswith("/up") and not self.release.is_set():
            self.entered.set()
            self.release.wait(30)
        return super().publish(topic, payload, qos=qos, retain=retain)


def test_close_never_closes_the_outbox_under_a_running_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(device_module, "_JOIN_TIMEOUT_S", 0.2, raising=False)
    fake = _StuckTransport()
    dev = Device("d1", tenant="t", data_dir=tmp_path / "dev", transport=fake, heartbeat_s=0.05)
    assert fake.entered.wait(10)
    closer = threading.Thread(target=dev.close, kwargs={"timeout": 0.1})
    closer.start()
    closer.join(20)
    assert not closer.is_alive()
    fake.release.set()  # the worker goes on after close() gave up waiting for it
    deadline = time.monotonic() + 10
    while dev._worker.is_alive():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert dev._error is None, dev._error  # it never found its outbox closed under it
    reopened = Outbox(tmp_path / "dev", max_bytes=1 << 20)  # the worker closed it cleanly
    assert reopened.depth >= 1
    reopened.close()
