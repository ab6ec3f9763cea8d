"""Free TCP ports and a dependency-free MQTT liveness probe."""

from __future__ import annotations

import socket

__all__ = ["free_port", "port_free", "port_open", "probe_mqtt"]

# CONNECT, MQTT 3.1.1, clean session, keep-alive 10 s, client id "binhai-probe".
_CLIENT_ID = b"binhai-probe"
_VARIABLE = b"\x00\x04MQTT\x04\x02\x00\x0a" + len(_CLIENT_ID).to_bytes(2, "big") + _CLIENT_ID
_CONNECT = bytes([0x10, len(_VARIABLE)]) + _VARIABLE
_CONNACK_OK = b"\x20\x02\x00\x00"
_CONNACK_OK_SESSION = b"\x20\x02\x01\x00"
_DISCONNECT = b"\xe0\x00"


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Return whether ``host:port`` can be bound now (nothing listens there)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def port_open(host: str, port: int, *, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on ``host:port`` (for TLS listeners, which
    the plain MQTT probe cannot talk to)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _connect_packet(username: str | None, password: str | None) -> bytes:
    if username is None:
        return _CONNECT
    fields = [_CLIENT_ID, username.encode(), (password or "").encode()]
    body = b"\x00\x04MQTT\x04\xc2\x00\x0a" + b"".join(len(f).to_bytes(2, "big") + f for f in fields)
    n, length = len(body), b""
    while True:
        n, digit = n >> 7, n & 0x7F
        length += bytes([digit | (0x80 if n else 0)])
        if not n:
            return b"\x10" + length + body


def probe_mqtt(
    host: str,
    port: int,
    *,
    timeout: float = 0.5,
    accept_refused: bool = False,
    username: str | None = None,
    password: str | None = None,
) -> bool:
    """Return whether an MQTT broker on ``host:port`` accepts a 3.1.1 connection, anonymous or
    with ``username``/``password`` (with ``accept_refused``: answers it at all, refusing
    included — a broker that requires authentication).

    Speaks just CONNECT / CONNACK / DISCONNECT on a plain socket, so it is cheap, needs no client
    library and leaves no thread behind. Every failure (refused, timeout, rejected) gives False.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(_connect_packet(username, password))
            reply = b""
            while len(reply) < len(_CONNACK_OK):
                chunk = sock.recv(len(_CONNACK_OK) - len(reply))
                if not chunk:
                    return False
                reply += chunk
            if reply not in (_CONNACK_OK, _CONNACK_OK_SESSION):
                return accept_refused and reply[:2] == _CONNACK_OK[:2]
            sock.sendall(_DISCONNECT)
            return True
    except OSError:
        return False
