"""The Query gRPC service: thin servicer methods over the SQL in :mod:`cloud_core._queries` and
:mod:`cloud_core._fleet`. Bad arguments become INVALID_ARGUMENT, unknown windows NOT_FOUND."""

from __future__ import annotations

import time
from typing import Any, NoReturn

import grpc

import protos
from cloud_core import _alert_store, _fleet, _queries
from cloud_core._store import Store
from protos.binhai.v1 import query_pb2 as q

__all__ = ["QueryServicer"]


async def _invalid(context: grpc.aio.ServicerContext, exc: Exception) -> NoReturn:
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
    raise AssertionError("abort returned")  # pragma: no cover - abort always raises


class QueryServicer(protos.query_pb2_grpc.QueryServicer):
    def __init__(self, store: Store) -> None:
        self._store = store

    async def Stats(
        self, request: protos.StatsRequest, context: grpc.aio.ServicerContext
    ) -> protos.StatsReply:
        async with self._store.pool.connection() as conn:
            s = await _queries.stats(conn, request.tenant)
        return protos.StatsReply(**s.as_dict())

    async def Series(
        self, request: protos.SeriesRequest, context: grpc.aio.ServicerContext
    ) -> protos.SeriesReply:
        try:
            async with self._store.pool.connection() as conn:
                s = await _queries.feature_series(
                    conn,
                    tenant=request.tenant,
                    device_id=request.device_id,
                    sensor=request.sensor,
                    feature=request.feature,
                    channel=request.channel,
                    start_ns=request.start_ns,
                    end_ns=request.end_ns or time.time_ns(),
                    bucket_s=request.bucket_s,
                    source=int(request.source),
                )
        except ValueError as exc:
            await _invalid(context, exc)
        return protos.SeriesReply(**s.as_dict())

    async def Fleet(self, request: q.FleetRequest, context: grpc.aio.ServicerContext) -> Any:
        async with self._store.pool.connection() as conn:
            s = await _fleet.fleet_summary(
                conn,
                request.tenant,
                novelty_threshold=request.novelty_threshold or _fleet.DEFAULT_NOVELTY_THRESHOLD,
                online_window_s=request.online_window_s or _fleet.DEFAULT_ONLINE_WINDOW_S,
            )
        return q.FleetReply(**s.as_dict())

    async def Device(self, request: q.DeviceRequest, context: grpc.aio.ServicerContext) -> Any:
        if not request.tenant or not request.device_id:
            await _invalid(context, ValueError("tenant and device_id are required"))
        async with self._store.pool.connection() as conn:
            d = await _fleet.device_detail(
                conn,
                request.tenant,
                request.device_id,
                online_window_s=request.online_window_s or _fleet.DEFAULT_ONLINE_WINDOW_S,
            )
        return q.DeviceReply(**d.as_dict())

    async def RawWindow(
        self, request: q.RawWindowRequest, context: grpc.aio.ServicerContext
    ) -> Any:
        try:
            async with self._store.pool.connection() as conn:
                w = await _fleet.raw_window(
                    conn, request.tenant, request.device_id, request.seq, request.idx
                )
        except ValueError as exc:  # stored bytes that no longer decode
            await context.abort(grpc.StatusCode.DATA_LOSS, str(exc))
        if w is None:
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                f"no window {request.idx} in batch {request.seq} of {request.device_id}",
            )
            raise AssertionError("abort returned")  # pragma: no cover - abort always raises
        return q.RawWindowReply(**w.as_dict())

    async def Conformance(
        self, request: q.ConformanceRequest, context: grpc.aio.ServicerContext
    ) -> Any:
        async with self._store.pool.connection() as conn:
            rows = await _fleet.conformance(conn, request.tenant, request.device_id)
        return q.ConformanceReply(rows=rows)

    async def Alerts(self, request: q.AlertsRequest, context: grpc.aio.ServicerContext) -> Any:
        try:
            async with self._store.pool.connection() as conn:
                rows = await _alert_store.list_alerts(
                    conn,
                    tenant=request.tenant,
                    device_id=request.device_id,
                    start_ns=request.start_ns,
                    end_ns=request.end_ns,
                    limit=request.limit,
                )
        except ValueError as exc:
            await _invalid(context, exc)
        return q.AlertsReply(alerts=rows)
