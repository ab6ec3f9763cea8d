"""A flooding device among a normal fleet, with and without bridge quotas, side by side.

Usage: python scripts/quota_flood.py --dsn postgresql://postgres@127.0.0.1:5432/DB
       [--mqtt-url mqtt://127.0.0.1:1883] [--devices 20] [--seconds 6] [--limit 20]
       [--flood-rate 1000]

The database must be migrated (``binhai db migrate``). Each run starts a core and a bridge in
this process; ``--devices`` devices each publish a batch every 0.2 s while one more device
publishes ``--flood-rate`` messages a second, for ``--seconds``. Prints, per run, the fleet's
publish -> commit latency (p50/p99 ms, from ``sent_at`` to ``received_at``), how much of the
flood was stored and rate-limited, and the ratio of the fleet's p99 without and with quotas.
One JSON object on the last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import time
import uuid

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

import protos
from binhai._loadgen import generate
from broker_bridge import Bridge, BridgeConfig, Limit, QuotaConfig, TenantLimits
from cloud_core import CoreConfig, start_core

FLOOD = "bench-00000"  # the first device of each generated load


def _client(url: protos.MqttUrl, name: str) -> mqtt.Client:
    c = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"{name}-{uuid.uuid4().hex[:6]}",
        protocol=mqtt.MQTTv5,
    )
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    c.connect(url.host, url.port)
    c.loop_start()
    return c


def _flood(mqtt_url: str, tenant: str, n: int, rate: float) -> int:
    """In a child process: publish ``n`` batches of one device at ``rate`` a second."""
    msgs = generate(tenant, messages=n, devices=1).messages
    client = _client(protos.MqttUrl.parse(mqtt_url), "flood")
    start = time.monotonic()
    infos = []
    for i, (topic, payload) in enumerate(msgs, 1):
        info = client.publish(topic, payload, qos=1)
        while info.rc != mqtt.MQTT_ERR_SUCCESS:
            time.sleep(0.001)
            info = client.publish(topic, payload, qos=1)
        infos.append(info)
        ahead = i / rate - (time.monotonic() - start)
        if ahead > 0.005:
            time.sleep(ahead)
    for info in infos:
        info.wait_for_publish(60)
    client.disconnect()
    client.loop_stop()
    return len(msgs)


async def _fleet(
    client: mqtt.Client, msgs: list[tuple[str, bytes]], per_tick: int, stop: float
) -> int:
    """Publish ``per_tick`` messages every 0.2 s until ``stop``, each stamped when it is sent."""
    sent = 0
    batch = protos.TelemetryBatch()
    while time.monotonic() < stop and sent < len(msgs):
        for topic, payload in msgs[sent : sent + per_tick]:
            batch.ParseFromString(payload)
            batch.sent_at_ns = time.time_ns()  # latency is measured from here
            client.publish(topic, batch.SerializeToString(), qos=1)
        sent += per_tick
        await asyncio.sleep(0.2)
    return sent


async def _run(args: argparse.Namespace, quotas: bool) -> dict[str, float]:
    tenant = f"flood-{uuid.uuid4().hex[:8]}"
    url = protos.MqttUrl.parse(args.mqtt_url)
    core = await start_core(CoreConfig(dsn=args.dsn, listen="127.0.0.1:0"))
    limits = TenantLimits(device_msgs=Limit(args.limit)) if quotas else TenantLimits()
    bridge = Bridge(
        BridgeConfig(
            mqtt_url=args.mqtt_url,
            core_addrs=(f"127.0.0.1:{core.port}",),
            client_id=f"flood-bridge-{uuid.uuid4().hex[:6]}",
            share_group=f"flood{uuid.uuid4().hex[:6]}",
            tenant=tenant,
            stored_confirmations=False,
            quotas=QuotaConfig(limits),
        )
    )
    ready = asyncio.Event()
    task = asyncio.create_task(bridge.run(on_ready=ready.set))
    await asyncio.wait_for(ready.wait(), 20)
    ticks = int(args.seconds / 0.2) + 1
    # The fleet: devices 1..N of a load of N+1 (device 0 is the flood's id).
    fleet_load = generate(tenant, messages=(args.devices + 1) * ticks, devices=args.devices + 1)
    fleet_msgs = [
        m for m, (d, _) in zip(fleet_load.messages, fleet_load.keys, strict=True) if d != FLOOD
    ]
    flood_n = int(args.flood_rate * args.seconds)
    fleet = _client(url, "fleet")
    # The flood comes from a process of its own, as a real device would (not this one's GIL).
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        flooding = pool.apply_async(_flood, (args.mqtt_url, tenant, flood_n, args.flood_rate))
        stop = time.monotonic() + args.seconds
        sent = await _fleet(fleet, fleet_msgs, args.devices, stop)
        flood_sent = await asyncio.to_thread(flooding.get, args.seconds + 120)
    expected = flood_sent + sent
    deadline = time.monotonic() + 120
    while bridge.stats.acked < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    fleet.disconnect()
    fleet.loop_stop()
    bridge.stop()
    await task
    await core.stop(5)
    with psycopg.connect(args.dsn) as conn:
        p50, p99, n = conn.execute(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms),"
            " percentile_cont(0.99) WITHIN GROUP (ORDER BY ms), count(*) FROM"
            " (SELECT extract(epoch FROM received_at - sent_at) * 1000 AS ms FROM batches"
            "  WHERE tenant = %s AND device_id <> %s) x",
            (tenant, FLOOD),
        ).fetchone() or (0, 0, 0)
        (flood_stored,) = conn.execute(
            "SELECT count(*) FROM batches WHERE tenant = %s AND device_id = %s", (tenant, FLOOD)
        ).fetchone() or (0,)
    return {
        "fleet_sent": sent,
        "fleet_stored": int(n),
        "fleet_p50_ms": round(float(p50 or 0), 1),
        "fleet_p99_ms": round(float(p99 or 0), 1),
        "flood_sent": flood_sent,
        "flood_stored": int(flood_stored),
        "flood_rate_limited": bridge.stats.dead_letters["rate_limited"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--mqtt-url", default="mqtt://127.0.0.1:1883")
    ap.add_argument("--devices", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--limit", type=float, default=20.0, help="Messages/s per device.")
    ap.add_argument("--flood-rate", type=float, default=1000.0, help="Flood messages/s.")
    args = ap.parse_args()
    off = asyncio.run(_run(args, quotas=False))
    print("without quotas:", off)
    on = asyncio.run(_run(args, quotas=True))
    print("with quotas:   ", on)
    ratio = off["fleet_p99_ms"] / on["fleet_p99_ms"] if on["fleet_p99_ms"] else 0.0
    print(json.dumps({"without": off, "with": on, "fleet_p99_without_over_with": round(ratio, 2)}))


if __name__ == "__main__":
    main()
