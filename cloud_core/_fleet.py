"""Read-side SQL for operators: fleet summary, device detail, raw window fetch, conformance.

Plain functions of a connection returning dataclasses whose ``as_dict`` keys are the fields of
the matching Query replies. "Online" means the broker's presence says so; for a device whose
presence was never reported, that it sent a batch within ``online_window_s``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
from psycopg.rows import dict_row

from cloud_core._cloud_features import decode_raw
from cloud_core._queries import _GAPS, to_ns

__all__ = [
    "DeviceDetail",
    "FleetSummary",
    "RawWindow",
    "conformance",
    "device_detail",
    "fleet_summary",
    "raw_window",
]

DEFAULT_NOVELTY_THRESHOLD = 3.0
DEFAULT_ONLINE_WINDOW_S = 120
_TOP = 10

_TENANT = "(%(tenant)s = '' OR tenant = %(tenant)s)"
_ONLINE = "coalesce(online, last_seen > now() - make_interval(secs => %(online_s)s))"

_FLEET = f"""
SELECT
    (SELECT count(*) FROM devices WHERE {_TENANT}),
    (SELECT count(*) FILTER (WHERE {_ONLINE}) FROM devices WHERE {_TENANT}),
    b.n, b.windows, b.samples,
    (SELECT count(*) FROM dead_letters
      WHERE {_TENANT} AND received_at > now() - interval '1 hour'),
    (SELECT coalesce(sum(mismatches), 0) FROM conformance WHERE {_TENANT})
FROM (
    SELECT count(*) AS n, coalesce(sum(n_windows + n_summarized), 0) AS windows,
           coalesce(sum(n_samples), 0) AS samples
    FROM batches WHERE {_TENANT} AND received_at > now() - interval '1 minute'
) b
"""
_ANOMALIES = f"""
SELECT device_id, count(*), max(novelty) FROM windows
WHERE {_TENANT} AND t0 >= now() - interval '1 hour' AND t0 < now() + interval '5 minutes'
  AND novelty > %(threshold)s
GROUP BY device_id ORDER BY count(*) DESC, device_id
"""

_DEVICE = f"""
SELECT first_seen, last_seen, online, {_ONLINE}, last_seq,
    (SELECT count(*) FROM batches b WHERE b.tenant = d.tenant AND b.device_id = d.device_id),
    (SELECT coalesce(sum(n_windows + n_summarized), 0) FROM batches b
      WHERE b.tenant = d.tenant AND b.device_id = d.device_id),
    (SELECT count(*) FILTER (WHERE acked_at IS NULL) FROM commands c
      WHERE c.tenant = d.tenant AND c.device_id = d.device_id),
    (SELECT count(*) FILTER (WHERE ok) FROM commands c
      WHERE c.tenant = d.tenant AND c.device_id = d.device_id),
    (SELECT count(*) FILTER (WHERE NOT ok) FROM commands c
      WHERE c.tenant = d.tenant AND c.device_id = d.device_id)
FROM devices d WHERE tenant = %(tenant)s AND device_id = %(device)s
"""

_HEALTH_FIELDS = (
    "battery",
    "outbox_depth",
    "outbox_bytes",
    "evicted_batches",
    "cpu_us_per_window",
    "clock_offset_ns",
    "firmware",
    "algo_version",
    "samples_dropped",
    "commands_nacked",
    "clock_synced",
    "raw_cache_bytes",
    "commands_ok",
)
_HEALTH = f"""
SELECT seq, received_at, {", ".join(_HEALTH_FIELDS)} FROM device_health
WHERE tenant = %(tenant)s AND device_id = %(device)s ORDER BY seq DESC LIMIT 1
"""
_CONFORMANCE = f"""
SELECT device_id, algo_version, checked, mismatches, skipped, last_mismatch_at,
       coalesce(last_mismatch, '')
FROM conformance WHERE {_TENANT} AND (%(device)s = '' OR device_id = %(device)s)
ORDER BY device_id, algo_version
"""
_RAW = """
SELECT sensor, t0, rate_hz, channels, n_samples, offload, novelty, raw_codec, raw,
       algo_version, features, source
FROM windows WHERE tenant = %(tenant)s AND device_id = %(device)s AND seq = %(seq)s
  AND idx = %(idx)s
"""


@dataclass(frozen=True, slots=True)
class FleetSummary:
    devices_total: int
    devices_online: int
    batches_last_minute: int
    windows_last_minute: int
    samples_last_minute: int
    batches_per_s: float
    samples_per_s: float
    anomalies_last_hour: int
    anomalous_devices_last_hour: int
    top_anomalous: list[dict[str, Any]]
    dead_letters_last_hour: int
    conformance_mismatches: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def fleet_summary(
    conn: psycopg.AsyncConnection,
    tenant: str = "",
    *,
    novelty_threshold: float = DEFAULT_NOVELTY_THRESHOLD,
    online_window_s: int = DEFAULT_ONLINE_WINDOW_S,
) -> FleetSummary:
    """Devices online/total, ingest in the last minute, anomalous windows in the last hour."""
    params = {"tenant": tenant, "online_s": online_window_s, "threshold": novelty_threshold}
    cur = await conn.execute(_FLEET, params)
    row = await cur.fetchone()
    assert row is not None
    total, online, batches, windows, samples, dead, mismatches = (int(v) for v in row)
    cur = await conn.execute(_ANOMALIES, params)
    anomalous = await cur.fetchall()
    top = [{"device_id": d, "windows": int(n), "max_novelty": float(m)} for d, n, m in anomalous][
        :_TOP
    ]
    return FleetSummary(
        total,
        online,
        batches,
        windows,
        samples,
        batches / 60.0,
        samples / 60.0,
        sum(int(r[1]) for r in anomalous),
        len(anomalous),
        top,
        dead,
        mismatches,
    )


async def conformance(
    conn: psycopg.AsyncConnection, tenant: str, device_id: str = ""
) -> list[dict[str, Any]]:
    """Per device and algo_version: BOTH windows checked, mismatches, skipped."""
    cur = await conn.execute(_CONFORMANCE, {"tenant": tenant, "device": device_id})
    return [
        {
            "device_id": r[0],
            "algo_version": int(r[1]),
            "checked": int(r[2]),
            "mismatches": int(r[3]),
            "skipped": int(r[4]),
            "last_mismatch_ns": to_ns(r[5]) if r[5] is not None else 0,
            "last_mismatch": r[6],
        }
        for r in await cur.fetchall()
    ]


@dataclass(frozen=True, slots=True)
class DeviceDetail:
    found: bool
    first_seen_ns: int = 0
    last_seen_ns: int = 0
    online: bool = False
    presence_online: bool | None = None
    last_seq: int = 0
    batches: int = 0
    windows: int = 0
    gaps_explained: int = 0
    gaps_unexplained: int = 0
    health: dict[str, Any] | None = None
    health_seq: int = 0
    health_received_ns: int = 0
    conformance: list[dict[str, Any]] = field(default_factory=list)
    commands_pending: int = 0
    commands_acked: int = 0
    commands_nacked: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


async def device_detail(
    conn: psycopg.AsyncConnection,
    tenant: str,
    device_id: str,
    *,
    online_window_s: int = DEFAULT_ONLINE_WINDOW_S,
) -> DeviceDetail:
    """Last seen, online, seq gaps, latest health, conformance and commands of one device."""
    params = {"tenant": tenant, "device": device_id, "online_s": online_window_s}
    cur = await conn.execute(_DEVICE, params)
    row = await cur.fetchone()
    if row is None:
        return DeviceDetail(found=False)
    cur = await conn.execute(_GAPS, params)
    gaps = await cur.fetchone()
    assert gaps is not None
    cur = await conn.execute(_HEALTH, params)
    h = await cur.fetchone()
    health = None if h is None else dict(zip(_HEALTH_FIELDS, h[2:], strict=True))
    if health is not None:
        health = {k: v for k, v in health.items() if v is not None}
    return DeviceDetail(
        found=True,
        first_seen_ns=to_ns(row[0]),
        last_seen_ns=to_ns(row[1]),
        online=bool(row[3]),
        presence_online=row[2],
        last_seq=int(row[4]),
        batches=int(row[5]),
        windows=int(row[6]),
        gaps_unexplained=int(gaps[0]),
        gaps_explained=int(gaps[1]),
        health=health,
        health_seq=int(h[0]) if h else 0,
        health_received_ns=to_ns(h[1]) if h else 0,
        conformance=await conformance(conn, tenant, device_id),
        commands_pending=int(row[7]),
        commands_acked=int(row[8]),
        commands_nacked=int(row[9]),
    )


@dataclass(frozen=True, slots=True)
class RawWindow:
    """A stored window with its raw samples decoded (channel-major float32)."""

    sensor: str
    t0_ns: int
    rate_hz: float
    channels: int
    n_samples: int
    offload: int
    novelty: float
    samples: list[float]
    codec: int
    stored_bytes: int
    algo_version: int
    features: list[float]
    source: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def raw_window(
    conn: psycopg.AsyncConnection, tenant: str, device_id: str, seq: int, idx: int
) -> RawWindow | None:
    """Window ``idx`` of batch ``seq``, raw samples decoded on demand; None when not stored."""
    params = {"tenant": tenant, "device": device_id, "seq": seq, "idx": idx}
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_RAW, params)
        r = await cur.fetchone()
    if r is None:
        return None
    raw = bytes(r["raw"]) if r["raw"] is not None else b""
    codec, channels, n = r["raw_codec"], int(r["channels"]), int(r["n_samples"])
    samples: list[float] = []
    if codec is not None:
        samples = decode_raw(int(codec), raw, channels, n).reshape(-1).tolist()
    return RawWindow(
        sensor=r["sensor"],
        t0_ns=to_ns(r["t0"]),
        rate_hz=float(r["rate_hz"]),
        channels=channels,
        n_samples=n,
        offload=int(r["offload"]),
        novelty=float(r["novelty"]),
        samples=samples,
        codec=int(codec or 0),
        stored_bytes=len(raw),
        algo_version=int(r["algo_version"] or 0),
        features=[float(v) for v in r["features"]] if r["features"] is not None else [],
        source=int(r["source"] or 0),
    )
