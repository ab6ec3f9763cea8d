"""The reconnect schedule: exponential backoff with full jitter. Pure, no I/O.

After an established connection drops, every device of a fleet notices at the same instant (a
broker restart drops them all). The first attempt therefore waits ``uniform(0, spread_s)``, so a
fleet's reconnects arrive spread over ``spread_s`` seconds instead of in one burst; each further
failed attempt ``k`` waits ``uniform(0, min(max_s, max(spread_s, min_s) * 2**k))`` (AWS's "full
jitter"). The very first connection of a process is attempted at once.
"""

from __future__ import annotations

import random


def reconnect_delay(
    attempt: int, *, min_s: float, max_s: float, spread_s: float, rng: random.Random | None = None
) -> float:
    """Seconds to wait before reconnect attempt ``attempt`` (0 = first after the drop)."""
    base = max(spread_s, min_s)
    cap = min(max_s, base * 2 ** min(attempt, 32))
    return (rng or random).uniform(0.0, cap)


def histogram(times_s: list[float], bucket_s: float = 1.0) -> list[int]:
    """Counts of ``times_s`` (seconds from the drop) per ``bucket_s`` bucket, from 0."""
    if not times_s:
        return []
    counts = [0] * (int(max(times_s) // bucket_s) + 1)
    for t in times_s:
        counts[int(max(t, 0.0) // bucket_s)] += 1
    return counts


def render_histogram(counts: list[int], bucket_s: float = 1.0, width: int = 50) -> str:
    """A text histogram, one line per bucket: ``  3- 4 s |#####          | 101 (10.1%)``."""
    total = sum(counts) or 1
    top = max(counts, default=1) or 1
    lines = []
    for i, n in enumerate(counts):
        bar = "#" * round(width * n / top)
        lo, hi = i * bucket_s, (i + 1) * bucket_s
        lines.append(f"{lo:5.1f}-{hi:5.1f} s |{bar:<{width}}| {n:5d} ({100 * n / total:4.1f}%)")
    return "\n".join(lines)
