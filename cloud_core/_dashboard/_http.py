"""A small HTTP/1.1 server on asyncio streams: GET only, one request per connection.

Enough for a dashboard on a trusted network next to the core: routes map a path to an async
handler of the query string returning a :class:`Response`; static files come from one
directory. Requests are bounded (header size, a read timeout); a handler's :class:`HttpError`
becomes its status and message, anything else a 500 whose reason is logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import mimetypes
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["HttpError", "Response", "Router", "serve_http"]

log = logging.getLogger(__name__)

_MAX_HEAD = 16 * 1024
_READ_TIMEOUT = 10.0
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
}


class HttpError(Exception):
    """Raised by a handler: answer with ``status`` and ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Response:
    body: bytes
    content_type: str = "application/json"
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, data: Any) -> Response:
        return cls(json.dumps(data, default=str, allow_nan=False).encode())


Handler = Callable[[Mapping[str, str]], Awaitable[Response]]


class Router:
    """Exact paths to handlers, plus ``/static/...`` from ``static_dir``."""

    def __init__(self, static_dir: Path) -> None:
        self._static = static_dir.resolve()
        self._routes: dict[str, Handler] = {}

    def add(self, path: str, handler: Handler) -> None:
        self._routes[path] = handler

    async def dispatch(self, method: str, target: str) -> Response:
        if method != "GET":
            raise HttpError(405, f"{method} not allowed")
        url = urlsplit(target)
        path = unquote(url.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if path.startswith("/static/"):
            return self._file(path.removeprefix("/static/"))
        handler = self._routes.get(path)
        if handler is None:
            raise HttpError(404, f"no page {path}")
        return await handler(query)

    def _file(self, rel: str) -> Response:
        path = (self._static / rel).resolve()
        if not path.is_relative_to(self._static) or not path.is_file():
            raise HttpError(404, f"no file {rel}")
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return Response(path.read_bytes(), kind, headers={"Cache-Control": "max-age=3600"})


def _encode(resp: Response) -> bytes:
    reason = _REASONS.get(resp.status, "Error")
    head = [
        f"HTTP/1.1 {resp.status} {reason}",
        f"Content-Type: {resp.content_type}",
        f"Content-Length: {len(resp.body)}",
        "Connection: close",
        *(f"{k}: {v}" for k, v in resp.headers.items()),
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + resp.body


def _error(status: int, message: str) -> Response:
    return Response(json.dumps({"error": message}).encode(), status=status)


async def _answer(router: Router, head: bytes) -> Response:
    try:
        method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
    except ValueError:
        return Response(b"bad request line", "text/plain", 400)
    try:
        return await router.dispatch(method, target)
    except HttpError as exc:
        return _error(exc.status, exc.message)
    except (ValueError, KeyError) as exc:
        return _error(400, str(exc))
    except Exception as exc:  # a failing page must not take the core down; it is logged
        log.exception("dashboard request %s failed", target)
        return _error(500, f"{type(exc).__name__}: {exc}")


async def serve_http(router: Router, host: str, port: int) -> asyncio.Server:
    """Listen on ``host:port`` (0: any free port); the caller closes the server."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _READ_TIMEOUT)
            resp = await _answer(router, head)
            writer.write(_encode(resp))
            await writer.drain()
        except asyncio.LimitOverrunError:
            writer.write(_encode(Response(b"request too large", "text/plain", 400)))
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError) as exc:
            log.debug("dashboard request dropped: %s", exc)
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port, limit=_MAX_HEAD)
