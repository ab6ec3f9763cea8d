"""How long ``binhai up --serve`` takes to come up, to stop and to come up again, and how fast
the dashboard's fleet API answers.

Usage: python scripts/serve_timing.py [--devices 0] [--calls 50]

Runs the real processes (``python -m binhai up --serve --workdir TMP --json``) in a fresh
temporary work directory: a first start (PostgreSQL initdb, migrations), ``binhai down``, a
restart on the same data, then ``--calls`` GETs of ``/api/fleet``. Prints one line of figures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.served import Served  # noqa: E402  (the tests' process helper, reused)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=0)
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="binhai-serve-timing-"))
    served = Served(base / "stack")
    try:
        t = time.monotonic()
        served.start("--devices", str(args.devices))
        first = time.monotonic() - t
        done = served.cli("down", "--json")
        down = json.loads(done.stdout.splitlines()[-1])["seconds"]
        served.wait()
        t = time.monotonic()
        state = served.start("--devices", str(args.devices))
        again = time.monotonic() - t
        latencies = []
        for _ in range(args.calls):
            t = time.perf_counter()
            with urlopen(state.dashboard + "api/fleet", timeout=10) as resp:
                resp.read()
            latencies.append(time.perf_counter() - t)
        latencies.sort()
        p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
        print(
            f"first start to ready {first:.1f} s; down {down} s; restart to ready {again:.1f} s;"
            f" /api/fleet median {statistics.median(latencies) * 1e3:.1f} ms,"
            f" p95 {p95 * 1e3:.1f} ms ({args.calls} calls, {args.devices} simulated devices)"
        )
    finally:
        served.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
