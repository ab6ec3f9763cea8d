"""The ``policies`` table and the fleet counts the policy engine reads (psycopg, async).

Every function takes an open connection from the core's pool and raises
:class:`~cloud_core.StorageError` when the database refuses. Row layout: see
``cloud_core/_migrate_v5.py``.

:func:`fleet_round` counts, per device that sent a heartbeat since ``since``, what it sent
between its previous heartbeat (the last one received at or before ``since``) and its latest:
a device's summaries travel with its heartbeats, so its counts are complete only up to one.
Stateless, so a restarted core counts the same.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import psycopg

from cloud_core._errors import StorageError
from cloud_core._policy import DeviceRound
from cloud_core._policy_scopes import Override, Scope
from cloud_core._policy_tally import NOVEL_ONLY

__all__ = [
    "DeviceRow",
    "device_rows",
    "device_version",
    "fleet_round",
    "save_device",
    "set_override",
    "tenant_devices",
    "tenant_overrides",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class DeviceRow:
    tenant: str
    device: str
    fields: dict[str, float]
    version: int


async def _guard(what: str, work: Callable[[], Awaitable[T]]) -> T:
    try:
        return await work()
    except psycopg.Error as exc:
        raise StorageError(f"{what} failed: {exc}", sqlstate=exc.sqlstate) from exc


def _fields(raw: Any) -> dict[str, float]:
    data = json.loads(raw) if isinstance(raw, str) else raw
    return {str(k): float(v) for k, v in (data or {}).items()}


async def tenant_overrides(
    conn: psycopg.AsyncConnection, tenant: str | None = None
) -> list[tuple[str, Override]]:
    """(tenant, override) of every scope with pinned fields."""

    async def work() -> list[tuple[str, Override]]:
        cur = await conn.execute(
            "SELECT tenant, scope, key, fields, pinned FROM policies"
            " WHERE cardinality(pinned) > 0 AND (%(t)s::text IS NULL OR tenant = %(t)s)"
            " ORDER BY tenant, scope, key",
            {"t": tenant},
        )
        out = []
        for t, scope, key, fields, pinned in await cur.fetchall():
            values = _fields(fields)
            mine = {f: values[f] for f in pinned if f in values}
            out.append((t, Override(Scope(scope, key), mine)))
        return out

    return await _guard("reading policy overrides", work)


async def device_rows(conn: psycopg.AsyncConnection) -> list[DeviceRow]:
    """Every device's stored policy (the engine's state, to take up after a restart)."""

    async def work() -> list[DeviceRow]:
        cur = await conn.execute(
            "SELECT tenant, key, fields, version FROM policies WHERE scope = 'device'"
        )
        return [DeviceRow(t, k, _fields(f), int(v)) for t, k, f, v in await cur.fetchall()]

    return await _guard("reading device policies", work)


async def save_device(
    conn: psycopg.AsyncConnection, tenant: str, device: str, fields: dict[str, float], version: int
) -> None:
    """Store the device's whole policy and its version (the operator's pins there are kept)."""
    await _guard(
        "storing a device policy",
        lambda: conn.execute(
            "INSERT INTO policies (tenant, scope, key, fields, version)"
            " VALUES (%s, 'device', %s, %s, %s)"
            " ON CONFLICT (tenant, scope, key) DO UPDATE"
            " SET fields = policies.fields || excluded.fields, version = excluded.version,"
            " updated_at = now()",
            (tenant, device, json.dumps(fields), version),
        ),
    )


async def set_override(
    conn: psycopg.AsyncConnection,
    tenant: str,
    scope: Scope,
    fields: dict[str, float],
    unpin: Sequence[str],
) -> None:
    """Pin ``fields`` at ``scope`` and unpin ``unpin`` there (an unpinned field of a tenant or
    group row is dropped; a device row keeps it as the engine's value to start from)."""
    drop = list(unpin) if scope.kind != "device" else []

    async def work() -> None:
        await conn.execute(
            "INSERT INTO policies AS p (tenant, scope, key, fields, pinned, version)"
            " VALUES (%(t)s, %(s)s, %(k)s, %(f)s, %(pin)s, 1)"
            " ON CONFLICT (tenant, scope, key) DO UPDATE SET"
            " fields = (p.fields - %(drop)s::text[]) || excluded.fields,"
            " pinned = ARRAY(SELECT DISTINCT x FROM unnest(p.pinned || excluded.pinned) x"
            "   WHERE NOT x = ANY(%(unpin)s::text[]) ORDER BY x),"
            " version = CASE WHEN p.scope = 'device' THEN p.version ELSE p.version + 1 END,"
            " updated_at = now()",
            {
                "t": tenant,
                "s": scope.kind,
                "k": scope.key,
                "f": json.dumps(fields),
                "pin": sorted(fields),
                "drop": drop,
                "unpin": list(unpin),
            },
        )

    await _guard("storing a policy override", work)


async def tenant_devices(conn: psycopg.AsyncConnection, tenant: str) -> list[str]:
    """Every device of ``tenant`` the core has heard from."""

    async def work() -> list[str]:
        cur = await conn.execute(
            "SELECT device_id FROM devices WHERE tenant = %s ORDER BY device_id", (tenant,)
        )
        return [r[0] for r in await cur.fetchall()]

    return await _guard("listing devices", work)


async def device_version(conn: psycopg.AsyncConnection, tenant: str, device: str) -> int:
    """The policy version in the device's latest health report (0: none)."""

    async def work() -> int:
        cur = await conn.execute(
            "SELECT coalesce(policy_version, 0) FROM device_health"
            " WHERE tenant = %s AND device_id = %s ORDER BY seq DESC LIMIT 1",
            (tenant, device),
        )
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    return await _guard("reading a device's health", work)


_ROUND = """
WITH cut AS (
    SELECT tenant, device_id, max(seq) AS upto FROM device_health
    WHERE received_at > %(since)s GROUP BY tenant, device_id
), span AS (
    SELECT c.tenant, c.device_id, c.upto,
        coalesce((SELECT max(h.seq) FROM device_health h
                  WHERE h.tenant = c.tenant AND h.device_id = c.device_id
                    AND h.received_at <= %(since)s), 0) AS after
    FROM cut c
)
SELECT s.tenant, s.device_id,
    coalesce((SELECT sum(b.n_windows + b.n_summarized) FROM batches b
              WHERE b.tenant = s.tenant AND b.device_id = s.device_id
                AND b.seq > s.after AND b.seq <= s.upto), 0) AS windows,
    coalesce((SELECT count(*) FROM windows w
              WHERE w.tenant = s.tenant AND w.device_id = s.device_id
                AND w.seq > s.after AND w.seq <= s.upto AND w.flags = %(novel)s), 0)
    + coalesce((SELECT sum(least(m.novel, m.windows)) FROM summaries m
              WHERE m.tenant = s.tenant AND m.device_id = s.device_id
                AND m.seq > s.after AND m.seq <= s.upto), 0) AS novel,
    coalesce((SELECT sum(b.payload_bytes) FROM batches b
              WHERE b.tenant = s.tenant AND b.device_id = s.device_id
                AND b.seq > s.after AND b.seq <= s.upto), 0) AS bytes,
    (SELECT count(*) FROM summaries m
     WHERE m.tenant = s.tenant AND m.device_id = s.device_id
       AND m.seq > s.after AND m.seq <= s.upto) AS summaries,
    (SELECT h.battery FROM device_health h
     WHERE h.tenant = s.tenant AND h.device_id = s.device_id AND h.seq = s.upto
     LIMIT 1) AS battery,
    (SELECT coalesce(h.policy_version, -1) FROM device_health h
     WHERE h.tenant = s.tenant AND h.device_id = s.device_id AND h.seq = s.upto
     LIMIT 1) AS policy_version,
    (SELECT coalesce(h.uplink, '') FROM device_health h
     WHERE h.tenant = s.tenant AND h.device_id = s.device_id AND h.seq = s.upto
     LIMIT 1) AS uplink
FROM span s
ORDER BY s.tenant, s.device_id
"""


async def fleet_round(conn: psycopg.AsyncConnection, since: datetime) -> list[DeviceRound]:
    """What every device with a heartbeat received after ``since`` showed (module docstring)."""

    async def work() -> list[DeviceRound]:
        cur = await conn.execute(_ROUND, {"since": since, "novel": NOVEL_ONLY})
        return [
            DeviceRound(
                t,
                d,
                int(w),
                int(n),
                int(b),
                -1.0 if bat is None else float(bat),
                int(m),
                -1 if pv is None else int(pv),
                up or "",
            )
            for t, d, w, n, b, m, bat, pv, up in await cur.fetchall()
        ]

    return await _guard("counting the fleet's round", work)
