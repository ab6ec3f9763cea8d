"""The database: reachable, schema current, TimescaleDB capabilities, device clocks.

Device clock skew is read from stored data: per device, the smallest ``received_at - sent_at``
over its recent batches. Transit and queueing only ever add to that difference, so its minimum
is the device's clock error plus the fastest delivery: far below zero, the device stamps from
the future; far above, from the past (its windows are misplaced in time either way).
"""

from __future__ import annotations

import psycopg

from binhai._doctor._check import Check

__all__ = ["check_database"]

_SKEW = """
SELECT device_id, tenant, extract(epoch FROM min(received_at - sent_at))::float8 AS skew
FROM batches WHERE received_at > now() - make_interval(secs => %(window_s)s)
GROUP BY tenant, device_id
HAVING abs(extract(epoch FROM min(received_at - sent_at))) > %(max_s)s
ORDER BY abs(extract(epoch FROM min(received_at - sent_at))) DESC
"""
_RECENT = (
    "SELECT count(DISTINCT (tenant, device_id)) FROM batches"
    " WHERE received_at > now() - make_interval(secs => %s)"
)


async def check_database(
    dsn: str, *, max_skew_s: float = 5.0, skew_window_s: int = 3600, timeout: float = 5.0
) -> list[Check]:
    """Connection, migrations, TimescaleDB, and device clock skew of the last ``skew_window_s``."""
    from cloud_core import MIGRATIONS, current_version, detect

    try:
        conn = await psycopg.AsyncConnection.connect(dsn, connect_timeout=max(1, int(timeout)))
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return [
            Check("database", "fail", f"cannot connect: {first}", "start PostgreSQL or fix --dsn")
        ]
    out = [Check("database", "ok", f"connected (PostgreSQL {conn.info.server_version // 10000})")]
    async with conn:
        latest = max(m.version for m in MIGRATIONS)
        version = await current_version(conn)
        if version < latest:
            out.append(
                Check(
                    "migrations",
                    "fail",
                    f"schema v{version}, this binhai needs v{latest}",
                    "run `binhai db migrate` (or start the core with --migrate)",
                )
            )
            return out
        if version > latest:
            out.append(
                Check(
                    "migrations",
                    "fail",
                    f"schema v{version} is newer than this binhai (v{latest})",
                    "upgrade binhai",
                )
            )
            return out
        out.append(Check("migrations", "ok", f"schema v{version} is current"))
        caps = await detect(conn)
        out.append(Check("timescaledb", "ok" if caps.timescaledb else "info", caps.describe()))
        out.append(await _clock_skew(conn, max_skew_s, skew_window_s))
    return out


async def _clock_skew(conn: psycopg.AsyncConnection, max_s: float, window_s: int) -> Check:
    cur = await conn.execute(_RECENT, (window_s,))
    row = await cur.fetchone()
    active = int(row[0]) if row else 0
    if active == 0:
        return Check("device clocks", "skip", f"no batches in the last {window_s} s")
    cur = await conn.execute(_SKEW, {"window_s": window_s, "max_s": max_s})
    skewed = await cur.fetchall()
    if not skewed:
        return Check(
            "device clocks", "ok", f"{active} active devices within {max_s:g} s of the cloud"
        )
    device, tenant, skew = skewed[0]
    return Check(
        "device clocks",
        "warn",
        f"{len(skewed)} of {active} devices stamp more than {max_s:g} s off the cloud's clock"
        f" (worst {tenant}/{device}: {_ahead(skew)})",
        "check their NTP/RTC; the SDK corrects after a downlink (time sync) is heard",
    )


def _ahead(skew: float) -> str:
    return f"{-skew:.1f} s ahead" if skew < 0 else f"{skew:.1f} s behind"
