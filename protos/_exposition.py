"""Prometheus text exposition (format 0.0.4): the metrics contract every binhai service serves.

Like the topic layout, this is a wire format shared by services that must not import each other
(``broker_bridge`` and ``cloud_core``), so it lives with the other contracts. :class:`Exposition`
renders metric families; :class:`Histogram` is a fixed-bucket histogram; :func:`serve_exposition`
answers every HTTP GET with the current text (stdlib asyncio, no client library).
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections.abc import Callable, Iterable, Mapping

__all__ = [
    "LATENCY_BUCKETS",
    "Exposition",
    "Histogram",
    "parse_exposition",
    "parse_listen",
    "serve_exposition",
]

log = logging.getLogger(__name__)

# Seconds; from a millisecond to ten seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Histogram:
    """Cumulative-on-render histogram with fixed upper bounds (single event loop, no locks)."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    @property
    def count(self) -> int:
        return sum(self.counts)


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in labels.items()
    )
    return "{" + inner.replace("\n", "\\n") + "}"


class Exposition:
    """Collects metric families, then renders them: ``Exposition().counter(...).text()``."""

    def __init__(self) -> None:
        self._lines: list[str] = []

    def family(
        self,
        name: str,
        kind: str,
        help_: str,
        samples: Iterable[tuple[Mapping[str, str], float]],
    ) -> Exposition:
        self._lines += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}"]
        self._lines += [f"{name}{_labels(labels)} {value}" for labels, value in samples]
        return self

    def counter(self, name: str, help_: str, value: float) -> Exposition:
        return self.family(name, "counter", help_, [({}, value)])

    def gauge(self, name: str, help_: str, value: float) -> Exposition:
        return self.family(name, "gauge", help_, [({}, value)])

    def histogram(self, name: str, help_: str, hist: Histogram) -> Exposition:
        self._lines += [f"# HELP {name} {help_}", f"# TYPE {name} histogram"]
        acc = 0
        for bound, n in zip((*hist.bounds, None), hist.counts, strict=True):
            acc += n
            le = "+Inf" if bound is None else repr(bound)
            self._lines.append(f'{name}_bucket{{le="{le}"}} {acc}')
        self._lines += [f"{name}_sum {hist.total}", f"{name}_count {acc}"]
        return self

    def text(self) -> str:
        return "\n".join(self._lines) + "\n"


def parse_exposition(text: str) -> dict[str, float]:
    """Samples of an exposition text: ``{'name{labels}': value}`` (for tests and tools)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def parse_listen(addr: str) -> tuple[str, int]:
    """``"host:port"`` or ``":port"`` (loopback) -> (host, port); raise ValueError otherwise."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"bad listen address {addr!r}; expected host:port or :port")
    return host.strip("[]") or "127.0.0.1", int(port)


async def serve_exposition(render: Callable[[], str], addr: str) -> asyncio.Server:
    """Serve ``render()`` on every HTTP request to ``addr``; the caller closes the server."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            body = render().encode()
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

    host, port = parse_listen(addr)
    return await asyncio.start_server(handle, host, port)
