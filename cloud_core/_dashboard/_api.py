"""The dashboard's JSON API and pages: thin handlers over the core's read-side queries.

| path | answer |
| --- | --- |
| ``/`` | the fleet page |
| ``/device?tenant=T&device=D`` | the device page |
| ``/api/fleet?tenant=`` | fleet summary, device list, latest alerts, ingest per 10 s |
| ``/api/device?tenant=&device=`` | device detail, its sensors, policy, commands, alerts |
| ``/api/series?tenant=&device=&sensor=&feature=rms&channel=0&minutes=30`` | a feature per window |
| ``/api/raw?tenant=&device=&sensor=`` | the device's latest stored raw window, decoded |

Non-finite floats (a NaN feature) are sent as ``null``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import kernels
from cloud_core._alert_store import list_alerts
from cloud_core._dashboard._http import HttpError, Response, Router
from cloud_core._devices import current_policy, device_list, recent_commands
from cloud_core._fleet import device_detail, fleet_summary, raw_window
from cloud_core._queries import feature_series
from cloud_core._store import Store

__all__ = ["STATIC", "build_router"]

STATIC = Path(__file__).parent / "static"
_MAX_MINUTES = 24 * 60
_ALERTS = 20

_SENSORS = """
SELECT sensor FROM windows
WHERE tenant = %s AND device_id = %s AND t0 > now() - interval '1 day'
GROUP BY sensor ORDER BY sensor
"""
# Batches and samples stored per 10 s over the last 10 minutes (batches_received index).
_INGEST = """
SELECT extract(epoch FROM date_bin('10 seconds', received_at, timestamptz 'epoch'))::float8,
       count(*), coalesce(sum(n_samples), 0)
FROM batches
WHERE received_at > now() - interval '10 minutes' AND (%(tenant)s = '' OR tenant = %(tenant)s)
GROUP BY 1 ORDER BY 1
"""
_LATEST_RAW = """
SELECT seq, idx FROM windows
WHERE tenant = %(tenant)s AND device_id = %(device)s AND raw IS NOT NULL
  AND (%(sensor)s = '' OR sensor = %(sensor)s)
ORDER BY t0 DESC LIMIT 1
"""


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def _required(query: Mapping[str, str], name: str) -> str:
    value = query.get(name, "").strip()
    if not value:
        raise HttpError(400, f"missing query parameter {name!r}")
    return value


def _page(name: str) -> Response:
    return Response((STATIC / name).read_bytes(), "text/html; charset=utf-8")


def build_router(store: Store) -> Router:
    """The dashboard's routes over ``store``'s connection pool."""
    router = Router(STATIC)

    async def index(_query: Mapping[str, str]) -> Response:
        return _page("fleet.html")

    async def device_page(_query: Mapping[str, str]) -> Response:
        return _page("device.html")

    async def fleet(query: Mapping[str, str]) -> Response:
        tenant = query.get("tenant", "")
        async with store.pool.connection() as conn:
            summary = await fleet_summary(conn, tenant)
            devices = await device_list(conn, tenant)
            alerts = await list_alerts(conn, tenant=tenant, limit=_ALERTS)
            cur = await conn.execute(_INGEST, {"tenant": tenant})
            ingest = await cur.fetchall()
        return Response.json(
            _finite(
                {
                    "now_ns": time.time_ns(),
                    "summary": summary.as_dict(),
                    "devices": [d.as_dict() for d in devices],
                    "alerts": alerts,
                    "ingest": {
                        "t_s": [r[0] for r in ingest],
                        "batches": [int(r[1]) for r in ingest],
                        "samples": [int(r[2]) for r in ingest],
                    },
                }
            )
        )

    async def device(query: Mapping[str, str]) -> Response:
        tenant, device_id = _required(query, "tenant"), _required(query, "device")
        async with store.pool.connection() as conn:
            detail = await device_detail(conn, tenant, device_id)
            if not detail.found:
                raise HttpError(404, f"no device {device_id!r} in tenant {tenant!r}")
            cur = await conn.execute(_SENSORS, (tenant, device_id))
            sensors = [r[0] for r in await cur.fetchall()]
            policy = await current_policy(conn, tenant, device_id)
            commands = await recent_commands(conn, tenant, device_id)
            alerts = await list_alerts(conn, tenant=tenant, device_id=device_id, limit=_ALERTS)
        return Response.json(
            _finite(
                {
                    "now_ns": time.time_ns(),
                    "tenant": tenant,
                    "device_id": device_id,
                    "detail": detail.as_dict(),
                    "sensors": sensors,
                    "policy": policy,
                    "commands": [c.as_dict() for c in commands],
                    "alerts": alerts,
                }
            )
        )

    async def series(query: Mapping[str, str]) -> Response:
        feature = query.get("feature", "rms")
        if feature not in kernels.FEATURE_NAMES:
            raise HttpError(400, f"unknown feature {feature!r}")
        minutes = min(int(query.get("minutes", "30")), _MAX_MINUTES)
        end = time.time_ns() + 60 * 10**9
        async with store.pool.connection() as conn:
            s = await feature_series(
                conn,
                tenant=_required(query, "tenant"),
                device_id=_required(query, "device"),
                sensor=_required(query, "sensor"),
                feature=feature,
                channel=int(query.get("channel", "0")),
                start_ns=end - (minutes + 1) * 60 * 10**9,
                end_ns=end,
            )
        return Response.json(_finite({"feature": feature, **s.as_dict()}))

    async def raw(query: Mapping[str, str]) -> Response:
        tenant, device_id = _required(query, "tenant"), _required(query, "device")
        params = {"tenant": tenant, "device": device_id, "sensor": query.get("sensor", "")}
        async with store.pool.connection() as conn:
            cur = await conn.execute(_LATEST_RAW, params)
            row = await cur.fetchone()
            window = None if row is None else await raw_window(conn, tenant, device_id, *row)
        return Response.json(_finite({"window": window.as_dict() if window else None}))

    for path, handler in (
        ("/", index),
        ("/device", device_page),
        ("/api/fleet", fleet),
        ("/api/device", device),
        ("/api/series", series),
        ("/api/raw", raw),
    ):
        router.add(path, handler)
    return router
