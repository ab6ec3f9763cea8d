"""A minimal, fast QoS1 MQTT publisher for load generation (raw socket, pre-encoded packets).

paho spends tens of microseconds of Python per publish, which would make the load generator,
not the system under test, the bottleneck. This speaks just enough MQTT (3.1.1 and 5) to
CONNECT, stream PUBLISH QoS1 packets with at most ``window`` unacknowledged, and DISCONNECT.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Sequence

import numpy as np

__all__ = ["publish_qos1"]


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("!H", len(b)) + b


def _packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + _varint(len(body)) + body


def _connect(client_id: str, v5: bool) -> bytes:
    head = _string("MQTT") + bytes([5 if v5 else 4, 0x02]) + struct.pack("!H", 60)
    return _packet(0x10, head + (b"\x00" if v5 else b"") + _string(client_id))


def _publish(topic: str, payload: bytes, mid: int, v5: bool) -> bytes:
    body = _string(topic) + struct.pack("!H", mid) + (b"\x00" if v5 else b"") + payload
    return _packet(0x32, body)


def _read_packet(sock: socket.socket, buf: bytearray) -> tuple[int, bytes] | None:
    """Next (type, body) from ``sock``, buffering in ``buf``; None at EOF."""
    while True:
        if len(buf) >= 2:
            length, mult, i = 0, 1, 1
            while i < len(buf):
                length += (buf[i] & 0x7F) * mult
                mult *= 128
                if not buf[i] & 0x80:
                    break
                i += 1
            else:
                i = -1
            if i > 0 and len(buf) >= i + 1 + length:
                first, body = buf[0], bytes(buf[i + 1 : i + 1 + length])
                del buf[: i + 1 + length]
                return first >> 4, body
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buf += chunk


def publish_qos1(
    host: str,
    port: int,
    messages: Sequence[tuple[str, bytes]],
    *,
    v5: bool = True,
    window: int = 1000,
    client_id: str = "",
) -> np.ndarray:
    """Publish ``messages`` QoS1 in order; return each one's wall-clock send time (ns)."""
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = bytearray()
    sock.sendall(_connect(client_id or f"binhai-load-{time.time_ns()}", v5))
    connack = _read_packet(sock, buf)
    if connack is None or connack[0] != 2 or connack[1][1] != 0:
        raise ConnectionError(f"broker refused the load publisher: {connack!r}")
    slots = threading.Semaphore(window)
    acked = [0]

    def read_acks() -> None:
        while (pkt := _read_packet(sock, buf)) is not None:
            if pkt[0] == 4:  # PUBACK
                acked[0] += 1
                slots.release()

    reader = threading.Thread(target=read_acks, daemon=True)
    reader.start()
    times = np.empty(len(messages), dtype=np.int64)
    pending: list[bytes] = []
    for i, (topic, payload) in enumerate(messages):
        if not slots.acquire(blocking=False):
            if pending:
                sock.sendall(b"".join(pending))
                pending.clear()
            slots.acquire()
        times[i] = time.time_ns()
        pending.append(_publish(topic, payload, i % 65535 + 1, v5))
        if len(pending) >= 64:
            sock.sendall(b"".join(pending))
            pending.clear()
    if pending:
        sock.sendall(b"".join(pending))
    deadline = time.monotonic() + 120
    while acked[0] < len(messages) and time.monotonic() < deadline:
        time.sleep(0.01)
    sock.sendall(b"\xe0\x00")
    sock.close()
    if acked[0] < len(messages):
        raise TimeoutError(f"broker acked {acked[0]} of {len(messages)} publishes")
    return times
