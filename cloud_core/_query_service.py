"""The Query gRPC service: thin servicer methods over the SQL in :mod:`cloud_core._queries`."""

from __future__ import annotations

import time

import grpc

import protos
from cloud_core import _queries
from cloud_core._store import Store


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
        caps = self._store.capabilities
        try:
            async with self._store.pool.connection() as conn:
                t, v = await _queries.series(
                    conn,
                    tenant=request.tenant,
                    device_id=request.device_id,
                    sensor=request.sensor,
                    feature=request.feature,
                    channel=request.channel,
                    start_ns=request.start_ns,
                    end_ns=request.end_ns or time.time_ns(),
                    bucket_s=request.bucket_s,
                    bucket_fn="time_bucket" if caps and caps.hypertables else "date_bin",
                )
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        return protos.SeriesReply(t_ns=t, values=v)
