"""A fleet reconnecting after a broker restart spreads its reconnects (no stampede).

1,000 full paho clients with their threads are too heavy for a small CI box, so the spread is
shown twice: from the jitter schedule of 1,000 real ``MqttTransport`` instances (the very code
that waits before reconnecting), and with 150 real clients through a real broker restart,
timing their actual connection attempts. Both print their histogram (``pytest -s`` shows it).
"""

from __future__ import annotations

import time

import pytest

from binhai._embedded import EmbeddedBroker
from device_sdk import MqttOptions, MqttTransport, histogram, render_histogram

MAX_SHARE_PER_SECOND = 0.15  # with a 10 s spread, uniform gives 10 % (+-1 % sd) per 1-s bucket


def _first_delays(n: int, options: MqttOptions) -> list[float]:
    out = []
    for _ in range(n):
        t = MqttTransport("mqtt://127.0.0.1:1", options)
        t._attempt = 0  # as _on_connect leaves it: the connection was up until the drop
        out.append(t._next_delay())
    return out


def test_jitter_schedule_of_1000_transports_spreads_the_first_reconnect() -> None:
    delays = _first_delays(1000, MqttOptions())
    counts = histogram(delays, 1.0)
    print("\nfirst reconnect attempt after a drop, 1,000 MqttTransports (default options)")
    print(render_histogram(counts))
    assert max(counts) / len(delays) <= MAX_SHARE_PER_SECOND
    assert len(counts) >= 9 and max(delays) <= MqttOptions().reconnect_spread_s
    # The assertion can fail: without the spread (first wait capped at backoff_min_s = 1 s)
    # every attempt would land in the first second.
    unspread = _first_delays(1000, MqttOptions(reconnect_spread_s=0.0))
    assert max(histogram(unspread, 1.0)) / 1000 > MAX_SHARE_PER_SECOND


def test_later_attempts_back_off_exponentially_up_to_the_cap() -> None:
    t = MqttTransport("mqtt://127.0.0.1:1", MqttOptions(reconnect_spread_s=2.0, backoff_max_s=30))
    caps = [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    for cap in caps:
        assert 0.0 <= t._next_delay() <= cap


class _Events:
    def __init__(self) -> None:
        self.connects = 0

    def on_connected(self) -> None:
        self.connects += 1

    def on_disconnected(self, reason: str) -> None:
        pass

    def on_published(self, token: int, ok: bool, reason: str) -> None:
        pass

    def on_message(self, topic: str, payload: bytes) -> None:
        pass


@pytest.mark.broker
@pytest.mark.slow
def test_150_real_clients_spread_their_reconnects_after_a_broker_restart(
    embedded_broker: EmbeddedBroker, unique_tenant: str
) -> None:
    n, spread = 150, 5.0
    options = MqttOptions(reconnect_spread_s=spread, backoff_max_s=20.0, keepalive_s=60)
    clients = [(MqttTransport(embedded_broker.url, options), _Events()) for _ in range(n)]
    try:
        for i, (t, ev) in enumerate(clients):
            t.start(ev, client_id=f"{unique_tenant}:{i}", will_topic="x/will", will_payload=b"")
        _wait(lambda: all(ev.connects == 1 for _, ev in clients), 60)
        embedded_broker.stop()
        dropped_at = time.monotonic()
        time.sleep(1.0)
        embedded_broker.start()
        _wait(lambda: all(ev.connects == 2 for _, ev in clients), 90)
    finally:
        for t, _ in clients:
            t.stop()
    first = [min(a for a in t.attempt_times if a > dropped_at) - dropped_at for t, _ in clients]
    counts = histogram(first, 1.0)
    print(f"\nfirst reconnect attempt after a broker restart, {n} real clients, spread {spread} s")
    print(render_histogram(counts))
    # Uniform over 5 s: 20 % per bucket, sd ~3 %; a stampede would put ~100 % in one bucket.
    assert max(counts) / n <= 0.35
    assert len(counts) >= 4


def _wait(cond: object, timeout: float) -> None:
    assert callable(cond)
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
