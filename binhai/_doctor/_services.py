"""The core and the bridges: gRPC health of each core, and what their metrics say."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.error import URLError
from urllib.request import urlopen

from binhai._doctor._check import Check

if TYPE_CHECKING:
    import protos

__all__ = ["check_core_auth", "check_core_health", "check_dashboard", "check_metrics"]


async def check_core_health(
    addr: str, auth: protos.CoreAuth | None = None, *, timeout: float = 3.0
) -> Check:
    """grpc.health.v1 Check of the whole server at ``addr`` (TLS when ``auth`` says so)."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    import protos

    name = f"core {addr}"
    async with protos.core_channel(addr, auth) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
        except grpc.aio.AioRpcError as exc:
            return Check(
                name,
                "fail",
                f"health check failed: {exc.code().name}",
                "start it (`binhai core serve`) or fix --core-addr / BINHAI_CORE_ADDR",
            )
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    if reply.status != health_pb2.HealthCheckResponse.SERVING:
        return Check(name, "fail", f"health {status} (draining or not ready)", "see its log")
    return Check(name, "ok", "SERVING")


async def check_core_auth(
    addr: str, auth: protos.CoreAuth | None = None, *, timeout: float = 3.0
) -> Check:
    """Whether the core at ``addr`` authenticates callers, and accepts ``auth``'s token: one
    small Query call (the newest alert, none in the future: an indexed look-up)."""
    import time

    import grpc

    import protos

    name = f"core {addr} auth"
    token = auth is not None and auth.token is not None
    request = protos.AlertsRequest(start_ns=time.time_ns() + 10**18, limit=1)
    async with protos.core_channel(addr, auth) as channel:
        try:
            await protos.query_pb2_grpc.QueryStub(channel).Alerts(request, timeout=timeout)
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            if code not in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                return Check(name, "skip", f"not checked: {code.name}")
            if not token:
                return Check(
                    name,
                    "skip",
                    "authentication on; no token to check",
                    "give --token or BINHAI_TOKEN (`binhai token create`)",
                )
            return Check(
                name,
                "fail",
                f"the token is refused: {code.name}",
                "check it (`binhai token list`) or create one (`binhai token create`)",
            )
    if token:
        return Check(name, "ok", "the token is accepted")
    return Check(
        name,
        "info",
        "authentication off: whoever reaches the port may query and command",
        "run the core with --auth off loopback (docs/security.md)",
    )


def _scrape(url: str, timeout: float) -> dict[str, float]:
    from protos import parse_exposition

    with urlopen(url, timeout=timeout) as resp:
        return parse_exposition(resp.read().decode())


def check_metrics(name: str, url: str, *, timeout: float = 3.0) -> Check:
    """Scrape ``url`` and judge what a core's or a bridge's metrics say about its health."""
    label = f"{name} metrics"
    try:
        samples = _scrape(url, timeout)
    except (URLError, OSError, ValueError) as exc:
        return Check(label, "fail", f"{url} does not answer ({exc})", "is the service running?")
    if any(k.startswith("binhai_bridge_") for k in samples):
        return _bridge(label, url, samples)
    if any(k.startswith("binhai_core_") for k in samples):
        return _core(label, url, samples)
    return Check(label, "warn", f"{url} answers, but with no binhai metrics", "wrong URL?")


def check_dashboard(url: str, *, timeout: float = 5.0) -> Check:
    """The core's dashboard answers its fleet API."""
    import json

    api = url.rstrip("/") + "/api/fleet"
    try:
        with urlopen(api, timeout=timeout) as resp:
            data = json.loads(resp.read())
    except (URLError, OSError, ValueError) as exc:
        return Check("dashboard", "fail", f"{api} does not answer ({exc})", "see the core's log")
    summary = data.get("summary", {})
    return Check(
        "dashboard",
        "ok",
        f"{url}: {summary.get('devices_online', '?')}/{summary.get('devices_total', '?')}"
        " devices online",
    )


def _core(label: str, url: str, s: dict[str, float]) -> Check:
    bridges = int(s.get("binhai_core_bridges_connected", 0))
    stored = int(s.get("binhai_core_ingest_batches_total", 0))
    if bridges == 0:
        return Check(
            label,
            "warn",
            f"{url}: no bridge on the Downlinks stream; commands to devices are not delivered",
            "start a bridge pointed at this core (`binhai bridge run --core-addr ...`)",
        )
    return Check(label, "ok", f"{url}: {bridges} bridge(s) connected, {stored} batches stored")


def _bridge(label: str, url: str, s: dict[str, float]) -> Check:
    if s.get("binhai_bridge_connected", 0) != 1:
        return Check(
            label, "fail", f"{url}: not connected to the broker", "check the broker and its log"
        )
    cores = {k: v for k, v in s.items() if k.startswith("binhai_bridge_core_up{")}
    down = [k for k, v in cores.items() if v != 1]
    if not cores or down:
        return Check(
            label,
            "fail",
            f"{url}: ingest stream to {len(down) or 'no'} core(s) not open",
            "check the cores (`binhai doctor` lists their health) and --core-addr",
        )
    return Check(label, "ok", f"{url}: connected to the broker and {len(cores)} core(s)")
