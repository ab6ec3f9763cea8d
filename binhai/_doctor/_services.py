"""The core and the bridges: gRPC health of each core, and what their metrics say."""

from __future__ import annotations

from urllib.error import URLError
from urllib.request import urlopen

from binhai._doctor._check import Check

__all__ = ["check_core_health", "check_dashboard", "check_metrics"]


async def check_core_health(addr: str, *, timeout: float = 3.0) -> Check:
    """grpc.health.v1 Check of the whole server at ``addr``."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    name = f"core {addr}"
    async with grpc.aio.insecure_channel(addr) as channel:
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
