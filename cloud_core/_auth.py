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
provides one backed by the token file, so the core never reads credential files itself.
Denials are logged with the principal's name and the method, never with a token.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
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


def _scoped(handler: grpc.RpcMethodHandler, tenant: str, denied: Counter[str]) -> Any:
    """``handler`` (unary request) with each request confined to ``tenant``."""

    async def check(request: Any, context: grpc.aio.ServicerContext) -> None:
        asked = getattr(request, "tenant", None)
        if asked == "":
            request.tenant = tenant
            return
        if asked == tenant:
            return
        denied["permission_denied"] += 1
        if asked is None:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "request names no tenant")
        else:
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED, f"not allowed for tenant {asked!r}"
            )

    kw = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.response_streaming:
        inner_stream = handler.unary_stream

        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            await check(request, context)
            async for item in inner_stream(request, context):
                yield item

        return grpc.unary_stream_rpc_method_handler(stream, **kw)
    inner = handler.unary_unary

    async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await check(request, context)
        return await inner(request, context)

    return grpc.unary_unary_rpc_method_handler(unary, **kw)


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Authenticate every call by its bearer token and authorise it by role and tenant."""

    def __init__(self, authenticate: Authenticate, metrics: Metrics | None = None) -> None:
        self._authenticate = authenticate
        self._metrics = metrics or Metrics()

    def _deny(self, handler: grpc.RpcMethodHandler, code: grpc.StatusCode, details: str) -> Any:
        self._metrics.auth_denied[code.name.lower()] += 1
        return _denying(handler, code, details)

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
        principal = self._authenticate(token) if token else None
        if principal is None:
            log.info("unauthenticated call to %s", method)
            return self._deny(
                handler, grpc.StatusCode.UNAUTHENTICATED, "a valid bearer token is required"
            )
        if not allowed(principal.role, method):
            log.info("%s (%s) may not call %s", principal.name, principal.role, method)
            return self._deny(
                handler,
                grpc.StatusCode.PERMISSION_DENIED,
                f"role {principal.role} may not call {method}",
            )
        if principal.tenant is not None and method.startswith(_TENANTED):
            if handler.request_streaming:
                return self._deny(handler, grpc.StatusCode.PERMISSION_DENIED, "tenant scope")
            return _scoped(handler, principal.tenant, self._metrics.auth_denied)
        return handler
