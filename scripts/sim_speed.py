"""How fast firmware_sim generates signals: wrist devices × simulated hours, in virtual time.

Usage: python scripts/sim_speed.py [--devices 1000] [--hours 1] [--procs 2] [--chunk-s 10]

Each of ``--procs`` processes builds its share of a scenario of ``--devices`` wrist devices
(accel 3 × 50 Hz, ppg 25 Hz; falls, tremor, arrhythmia and sensor faults as in ``wearables``)
and takes every sensor in ``--chunk-s`` chunks, as the evaluation runner does. Prints the wall
time, the CPU time and the samples (values) per second per core.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from concurrent.futures import ProcessPoolExecutor

from firmware_sim import DeviceGroup, build_fleet, load_scenario


def _run(devices: int, hours: float, chunk_s: float, part: int, parts: int) -> tuple[int, float]:
    base = load_scenario("wearables")
    sc = dataclasses.replace(
        base, duration_s=hours * 3600, devices=(DeviceGroup("wrist", devices),)
    )
    cpu0 = time.process_time()
    fleet = build_fleet(sc)[part::parts]
    values = 0
    t = 0.0
    while t < sc.duration_s:
        for dev in fleet:
            for s in dev.sensors:
                n = round((t + chunk_s) * s.rate_hz) - round(t * s.rate_hz)
                values += dev.take(s.name, n).size
        t += chunk_s
    return values, time.process_time() - cpu0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--chunk-s", type=float, default=10.0)
    args = ap.parse_args()
    wall0 = time.perf_counter()
    with ProcessPoolExecutor(args.procs) as pool:
        jobs = [
            pool.submit(_run, args.devices, args.hours, args.chunk_s, i, args.procs)
            for i in range(args.procs)
        ]
        results = [j.result() for j in jobs]
    wall = time.perf_counter() - wall0
    values = sum(v for v, _ in results)
    cpu = sum(c for _, c in results)
    print(
        f"{args.devices} wrist devices × {args.hours:g} h on {args.procs} processes: "
        f"wall {wall:.1f} s, CPU {cpu:.1f} s, {values / 1e6:.0f} M values, "
        f"{values / cpu / 1e6:.1f} M values/s per core"
    )


if __name__ == "__main__":
    main()
