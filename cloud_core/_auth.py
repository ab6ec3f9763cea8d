"""Who may call what on the core: bearer-token principals, roles, tenant scopes.

Roles and the RPCs they may call:

=========  ==========================================  =================================
role       RPCs                                        tenant scope
=========  ==========================================  =================================
bridge     ``Ingest/Stream``, ``Control/Downlinks``     every tenant
operator   every ``Query`` and ``Control`` RPC but      one tenant, or every tenant
           ``Downlinks`` (``SendCommand``, policies)
reader     every ``Query`` RPC                         one tenant (required)
=========  ==========================================  =================================

:class:`AuthInterceptor` runs before every RPC except health and reflection (load balancers and
``grpcurl list`` need those without credentials): no or an unknown token gives
``UNAUTHENTICATED``, a role without the RPC ``PERMISSION_DENIED``. For a principal scoped to one
tenant, each request's ``tenant`` field is checked before the servicer runs: empty becomes the
principal's tenant — so the SQL filters by it — and any other tenant is ``PERMISSION_DENIED``.

Tokens are resolved by a callable given to the interceptor (:data:`Authenticate`); the CLI
provides one backed by the token file, so the core never reads credential files itself. On a
mutual-TLS port a call without a token may instead be authenticated by its verified client
certificate's common name (``by_certificate``, the same kind of callable: the CLI maps a CN to
the token record of that name). Denials are counted in ``Metrics.auth_denied`` and logged with
the principal's name and the method, never with a token.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import grpc

import protos
from cloud_core._metrics import Metrics

__all__ = ["ROLES", "AuthInterceptor", "Authenticate", "Principal", "Role", "allowed"]

log = logging.getLogger(__name__)

Role = Literal["bridge", "operator", "reader"]
ROLES: tuple[Role, ...] = ("bridge", "operator", "reader")

_QUERY = "/binhai.v1.Query/"
_CONTROL = "/binhai.v1.Control/"
_BRIDGE_ONLY = ("/binhai.v1.Ingest/Stream", "/binhai.v1.Control/Downlinks")
_ROLE_METHODS: dict[Role, tuple[str, ...]] = {
    "bridge": _BRIDGE_ONLY,
    "operator": (_QUERY, _CONTROL),
    "reader": (_QUERY,),
}
# Open to everyone: health checks and reflection (no data).
_OPEN = ("/grpc.health.v1.Health/", "/grpc.reflection.")
# RPCs whose every request names a tenant (scoped principals are confined to theirs).
_TENANTED = (_QUERY, _CONTROL)


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: ``name`` (for logs), ``role``, ``tenant`` (None: every tenant)."""

    name: str
    role: Role
    tenant: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}; one of {', '.join(ROLES)}")
        if self.role == "reader" and not self.tenant:
            raise ValueError("a reader is scoped to one tenant")
        if self.role == "bridge" and self.tenant is not None:
            raise ValueError("a bridge token serves every tenant (a bridge's --tenant limits it)")
        if self.tenant is not None:
            protos.check_id(self.tenant, "tenant")


Authenticate = Callable[[str], "Principal | None"]


def allowed(role: Role, method: str) -> bool:
    """Whether ``role`` may call the full gRPC ``method`` name."""
    if method in _BRIDGE_ONLY and role != "bridge":
        return False
    return any(
        method == m or (m.endswith("/") and method.startswith(m)) for m in _ROLE_METHODS[role]
    )


def _bearer(metadata: Any) -> str | None:
    for key, value in metadata or ():
        if key == protos.AUTH_METADATA_KEY and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return None


def _denying(handler: grpc.RpcMethodHandler, code: grpc.StatusCode, details: str) -> Any:
    """A handler of ``handler``'s shape that ends the call with ``code``."""

    async def unary(_request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(code, details)

    async def streaming(_request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        await context.abort(code, details)
        yield  # pragma: no cover - abort raises

    kw = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(streaming, **kw)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(unary, **kw)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(streaming, **kw)
    return grpc.unary_unary_rpc_method_handler(unary, **kw)


Check = Callable[[Any, grpc.aio.ServicerContext], Awaitable[None]]


def _guarded(handler: grpc.RpcMethodHandler, check: Check) -> Any:
    """``handler`` with ``check(request, context)`` run first (``request`` is None for
    request-streaming RPCs); ``check`` ends the call by aborting."""
    kw = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.request_streaming and handler.response_streaming:
        bidi = handler.stream_stream

        async def stream_stream(requests: Any, context: grpc.aio.ServicerContext) -> Any:
            await check(None, context)
            async for item in bidi(requests, context):
                yield item

        return grpc.stream_stream_rpc_method_handler(stream_stream, **kw)
    if handler.request_streaming:
        client_stream = handler.stream_unary

        async def stream_unary(requests: Any, context: grpc.aio.ServicerContext) -> Any:
            await check(None, context)
            return await client_stream(requests, context)

        return grpc.stream_unary_rpc_method_handler(stream_unary, **kw)
    if handler.response_streaming:
        server_stream = handler.unary_stream

        async def unary_stream(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await check(request, context)
            async for item in server_stream(request, context):
                yield item

        return grpc.unary_stream_rpc_method_handler(unary_stream, **kw)
    unary = handler.unary_unary

    async def unary_unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await check(request, context)
        return await unary(request, context)

    return grpc.unary_unary_rpc_method_handler(unary_unary, **kw)


def _verdict(principal: Principal | None, method: str) -> tuple[grpc.StatusCode, str] | None:
    """Why ``principal`` may not call ``method`` at all, or None."""
    if principal is None:
        return (
            grpc.StatusCode.UNAUTHENTICATED,
            "a valid bearer token or client certificate is required",
        )
    if not allowed(principal.role, method):
        return grpc.StatusCode.PERMISSION_DENIED, f"role {principal.role} may not call {method}"
    return None


def _scope_denial(principal: Principal, method: str, request: Any) -> str | None:
    """Confine ``request`` to ``principal``'s tenant: fill an empty tenant in, or say why not."""
    if principal.tenant is None or not method.startswith(_TENANTED):
        return None
    asked = getattr(request, "tenant", None) if request is not None else None
    if asked == "":
        request.tenant = principal.tenant
        return None
    if asked == principal.tenant:
        return None
    return "request names no tenant" if asked is None else f"not allowed for tenant {asked!r}"


def _certificate_name(context: grpc.aio.ServicerContext) -> str | None:
    names = context.auth_context().get("x509_common_name") or []
    return names[0].decode(errors="replace") if names else None


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Authenticate every call by its bearer token — or, with ``by_certificate``, by the common
    name of its verified TLS client certificate — and authorise it by role and tenant.

    Token calls are decided before the servicer is reached (role) or as its first step (tenant
    scope); certificate calls as its first step (the peer's certificate is only known there).
    """

    def __init__(
        self,
        authenticate: Authenticate,
        metrics: Metrics | None = None,
        *,
        by_certificate: Authenticate | None = None,
    ) -> None:
        self._authenticate = authenticate
        self._by_certificate = by_certificate
        self._metrics = metrics or Metrics()

    def _count(self, code: grpc.StatusCode, method: str, who: str) -> None:
        self._metrics.auth_denied[code.name.lower()] += 1
        log.info("refused %s: %s to %s", code.name, who, method)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method: str = details.method
        handler = await continuation(details)
        if handler is None or method.startswith(_OPEN):
            return handler
        token = _bearer(details.invocation_metadata)
        if token is None and self._by_certificate is not None:
            return _guarded(handler, partial(self._check_certificate, method))
        principal = self._authenticate(token) if token else None
        verdict = _verdict(principal, method)
        if verdict is not None:
            self._count(verdict[0], method, _who(principal))
            return _denying(handler, *verdict)
        assert principal is not None
        if principal.tenant is not None and method.startswith(_TENANTED):
            return _guarded(handler, partial(self._check_scope, principal, method))
        return handler

    async def _check_scope(
        self, principal: Principal, method: str, request: Any, context: grpc.aio.ServicerContext
    ) -> None:
        reason = _scope_denial(principal, method, request)
        if reason is not None:
            self._count(grpc.StatusCode.PERMISSION_DENIED, method, _who(principal))
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, reason)

    async def _check_certificate(
        self, method: str, request: Any, context: grpc.aio.ServicerContext
    ) -> None:
        assert self._by_certificate is not None
        name = _certificate_name(context)
        principal = self._by_certificate(name) if name else None
        verdict = _verdict(principal, method)
        if verdict is not None:
            self._count(verdict[0], method, _who(principal, name))
            await context.abort(*verdict)
        assert principal is not None
        await self._check_scope(principal, method, request, context)


def _who(principal: Principal | None, certificate: str | None = None) -> str:
    if principal is not None:
        return f"{principal.name} ({principal.role})"
    return f"certificate {certificate!r}" if certificate else "an unauthenticated caller"
