"""How clients reach the core: gRPC channels with optional TLS and a bearer token.

The token travels as ``authorization: Bearer <token>`` metadata on every call, added by a client
interceptor (so every stub on the channel carries it, plaintext or TLS). Over plaintext the token
is readable by anyone on the path: use TLS anywhere but loopback. :class:`CoreAuth` never shows
the token in its repr.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc

__all__ = ["AUTH_METADATA_KEY", "CoreAuth", "core_channel"]

AUTH_METADATA_KEY = "authorization"


@dataclass(frozen=True, slots=True)
class CoreAuth:
    """Credentials for the core: ``token`` (bearer) and ``ca_pem`` (TLS with this CA; None for
    plaintext); ``cert_pem``/``key_pem``, a client certificate for mutual TLS. ``server_name``
    overrides the name checked against the server certificate."""

    token: str | None = field(default=None, repr=False)
    ca_pem: bytes | None = field(default=None, repr=False)
    server_name: str | None = None
    cert_pem: bytes | None = field(default=None, repr=False)
    key_pem: bytes | None = field(default=None, repr=False)

    @property
    def tls(self) -> bool:
        return self.ca_pem is not None


class _Bearer:
    """Adds the token to a call's metadata. grpc.aio files an interceptor under the first
    interceptor kind it is an instance of, so each call kind gets a class of its own."""

    def __init__(self, token: str) -> None:
        self._header = (AUTH_METADATA_KEY, f"Bearer {token}")

    def _details(self, d: Any) -> Any:
        metadata = grpc.aio.Metadata(*(d.metadata.items() if d.metadata else ()), self._header)
        return grpc.aio.ClientCallDetails(
            d.method, d.timeout, metadata, d.credentials, d.wait_for_ready
        )


class _UnaryUnary(_Bearer, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._details(details), request)


class _UnaryStream(_Bearer, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._details(details), request)


class _StreamUnary(_Bearer, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        return await continuation(self._details(details), requests)


class _StreamStream(_Bearer, grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        return await continuation(self._details(details), requests)


def core_channel(
    addr: str,
    auth: CoreAuth | None = None,
    *,
    options: Sequence[tuple[str, Any]] = (),
) -> grpc.aio.Channel:
    """A channel to the core at ``addr``: TLS when ``auth.ca_pem`` is set, the bearer token on
    every call when ``auth.token`` is."""
    auth = auth or CoreAuth()
    interceptors: list[Any] | None = None
    if auth.token:
        kinds = (_UnaryUnary, _UnaryStream, _StreamUnary, _StreamStream)
        interceptors = [kind(auth.token) for kind in kinds]
    opts = list(options)
    if auth.tls:
        if auth.server_name:
            opts.append(("grpc.ssl_target_name_override", auth.server_name))
        creds = grpc.ssl_channel_credentials(
            root_certificates=auth.ca_pem,
            private_key=auth.key_pem,
            certificate_chain=auth.cert_pem,
        )
        return grpc.aio.secure_channel(addr, creds, options=opts, interceptors=interceptors)
    return grpc.aio.insecure_channel(addr, options=opts, interceptors=interceptors)
