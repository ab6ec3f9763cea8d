"""Operator views of devices: the fleet as a list, one device's policy and commands.

Plain functions of a connection, like :mod:`cloud_core._fleet`. A device's "current policy" is
the body of the last policy command stored for it (the policy engine's or an operator's), with
whether the device acknowledged it; commands are read from the ``commands`` table, whose
``acked_at``/``ok``/``reason`` the ingest fills in when the device's CommandAck arrives.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import psycopg
from google.protobuf.json_format import MessageToDict

import protos
from cloud_core._fleet import DEFAULT_ONLINE_WINDOW_S
from cloud_core._queries import GAP_CTES, to_ns

__all__ = [
    "CommandState",
    "DeviceRow",
    "command_state",
    "current_policy",
    "device_list",
    "device_tenants",
    "recent_commands",
]

_ONLINE = "coalesce(d.online, d.last_seen > now() - make_interval(secs => %(online_s)s))"

_LIST = f"""
WITH {GAP_CTES}, h AS (
    SELECT DISTINCT ON (tenant, device_id) tenant, device_id, firmware, battery, outbox_depth,
           clock_offset_ns
    FROM device_health WHERE (%(tenant)s = '' OR tenant = %(tenant)s)
                         AND (%(device)s = '' OR device_id = %(device)s)
    ORDER BY tenant, device_id, seq DESC
), p AS (
    SELECT DISTINCT ON (tenant, device_id) tenant, device_id, acked_at, ok
    FROM commands WHERE kind = 'policy' AND (%(tenant)s = '' OR tenant = %(tenant)s)
                    AND (%(device)s = '' OR device_id = %(device)s)
    ORDER BY tenant, device_id, created_at DESC
)
SELECT d.tenant, d.device_id, {_ONLINE}, d.last_seen, d.last_seq, h.firmware, h.battery,
       h.outbox_depth, h.clock_offset_ns,
       coalesce(g.missing, 0) - coalesce(g.explained, 0), coalesce(g.explained, 0),
       CASE WHEN p.tenant IS NULL THEN 'none'
            WHEN p.acked_at IS NULL THEN 'pending'
            WHEN p.ok THEN 'acked' ELSE 'refused' END
FROM devices d
LEFT JOIN h USING (tenant, device_id)
LEFT JOIN per_device g USING (tenant, device_id)
LEFT JOIN p USING (tenant, device_id)
WHERE (%(tenant)s = '' OR d.tenant = %(tenant)s) AND (%(device)s = '' OR d.device_id = %(device)s)
  AND (NOT %(online_only)s OR {_ONLINE})
ORDER BY d.tenant, d.device_id
LIMIT %(limit)s
"""

_TENANTS = "SELECT tenant FROM devices WHERE device_id = %s ORDER BY tenant"

_POLICY = """
SELECT body, created_at, acked_at, ok, coalesce(reason, '') FROM commands
WHERE tenant = %s AND device_id = %s AND kind = 'policy' ORDER BY created_at DESC LIMIT 1
"""

_COMMANDS = """
SELECT id, kind, created_at, sent_at, acked_at, ok, coalesce(reason, '') FROM commands
WHERE tenant = %s AND device_id = %s AND kind <> 'time_sync'
ORDER BY created_at DESC LIMIT %s
"""

_COMMAND = """
SELECT id, kind, created_at, sent_at, acked_at, ok, coalesce(reason, '') FROM commands
WHERE id = %s
"""


@dataclass(frozen=True, slots=True)
class DeviceRow:
    """One line of the device list: presence, latest health report, gaps, policy state."""

    tenant: str
    device_id: str
    online: bool
    last_seen_ns: int
    last_seq: int
    firmware: str | None
    battery: float | None
    outbox_depth: int | None
    clock_offset_ns: int | None
    gaps_unexplained: int
    gaps_explained: int
    # The last stored policy command: "none", "pending", "acked" or "refused".
    policy: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class CommandState:
    """A stored command and, once the device answered, its ACK (ok) or NACK (reason)."""

    id: str
    kind: str
    created_ns: int
    sent_ns: int
    acked_ns: int
    ok: bool | None
    reason: str

    @property
    def status(self) -> str:
        """``ack``, ``nack``, ``sent`` (handed to a bridge, no answer yet) or ``stored``."""
        if self.acked_ns:
            return "ack" if self.ok else "nack"
        return "sent" if self.sent_ns else "stored"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status}


def _ns(t: datetime | None) -> int:
    return to_ns(t) if t is not None else 0


async def device_list(
    conn: psycopg.AsyncConnection,
    tenant: str = "",
    *,
    device_id: str = "",
    online_only: bool = False,
    online_window_s: int = DEFAULT_ONLINE_WINDOW_S,
    limit: int = 1000,
) -> list[DeviceRow]:
    """Devices of ``tenant`` (all when empty), ordered by tenant and id, at most ``limit``."""
    params = {
        "tenant": tenant,
        "device": device_id,
        "online_s": online_window_s,
        "online_only": online_only,
        "limit": limit,
    }
    cur = await conn.execute(_LIST, params)
    return [
        DeviceRow(
            tenant=r[0],
            device_id=r[1],
            online=bool(r[2]),
            last_seen_ns=_ns(r[3]),
            last_seq=int(r[4]),
            firmware=r[5],
            battery=None if r[6] is None or r[6] < 0 else float(r[6]),  # < 0: no battery
            outbox_depth=None if r[7] is None else int(r[7]),
            clock_offset_ns=None if r[8] is None else int(r[8]),
            gaps_unexplained=int(r[9]),
            gaps_explained=int(r[10]),
            policy=r[11],
        )
        for r in await cur.fetchall()
    ]


async def device_tenants(conn: psycopg.AsyncConnection, device_id: str) -> list[str]:
    """The tenants that have a device with this id."""
    cur = await conn.execute(_TENANTS, (device_id,))
    return [r[0] for r in await cur.fetchall()]


async def current_policy(
    conn: psycopg.AsyncConnection, tenant: str, device_id: str
) -> dict[str, Any] | None:
    """The last policy sent to the device (its fields, when, and whether it was acked)."""
    cur = await conn.execute(_POLICY, (tenant, device_id))
    row = await cur.fetchone()
    if row is None:
        return None
    body, created, acked, ok, reason = row
    policy = protos.Command.FromString(bytes(body)).policy
    status = "pending" if acked is None else ("acked" if ok else "refused")
    return {
        "fields": MessageToDict(policy, preserving_proto_field_name=True),
        "created_ns": _ns(created),
        "status": status,
        "reason": reason,
    }


def _command(row: tuple[Any, ...]) -> CommandState:
    return CommandState(
        id=row[0],
        kind=row[1],
        created_ns=_ns(row[2]),
        sent_ns=_ns(row[3]),
        acked_ns=_ns(row[4]),
        ok=row[5],
        reason=row[6],
    )


async def recent_commands(
    conn: psycopg.AsyncConnection, tenant: str, device_id: str, limit: int = 5
) -> list[CommandState]:
    """The device's last ``limit`` commands (time syncs left out), newest first."""
    cur = await conn.execute(_COMMANDS, (tenant, device_id, limit))
    return [_command(r) for r in await cur.fetchall()]


async def command_state(conn: psycopg.AsyncConnection, command_id: str) -> CommandState | None:
    """The stored command with this id, or None."""
    cur = await conn.execute(_COMMAND, (command_id,))
    row = await cur.fetchone()
    return None if row is None else _command(row)
