"""The core's live dashboard: fleet and device pages over a JSON API, charts by uPlot.

``start_dashboard(store, "127.0.0.1:8080")`` serves the pages and the API (see ``_api``) from the
core's own connection pool; the pages poll the API every few seconds, so they update live.
uPlot (MIT, vendored unmodified in ``static/vendor/uplot``) draws every chart.
"""

from __future__ import annotations

import asyncio

import protos
from cloud_core._dashboard._api import build_router
from cloud_core._dashboard._http import serve_http
from cloud_core._store import Store

__all__ = ["start_dashboard"]


async def start_dashboard(store: Store, addr: str) -> asyncio.Server:
    """Serve the dashboard on ``addr`` (``host:port`` or ``:port``; port 0 picks one)."""
    host, port = protos.parse_listen(addr)
    return await serve_http(build_router(store), host, port)
