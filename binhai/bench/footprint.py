"""Helpers of the device footprint processes that import nothing but the standard library (the
paho floor must not pay for NumPy or the SDK): private memory, and the recorded batches."""

from __future__ import annotations

import resource
import struct
from pathlib import Path


def peak_rss_mb() -> float:
    """Peak RSS of this process since it was exec'd: ``VmHWM`` (Linux). ``ru_maxrss`` is the
    fallback elsewhere; on Linux it is not used because it carries over the parent's peak from
    before the exec (a child of a 120 MB parent never reports less than 120 MB)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def uss_mb() -> float | None:
    """Private (unshared) memory: what one more device process really costs, shared libs aside."""
    try:
        text = Path("/proc/self/smaps_rollup").read_text()
    except OSError:
        return None
    kb = sum(int(ln.split()[1]) for ln in text.splitlines() if ln.startswith("Private_"))
    return kb / 1024


def write_batches(path: Path, sent: list[tuple[str, bytes]]) -> None:
    """``sent`` as length-prefixed (topic, payload) records; read by :func:`read_batches`."""
    with path.open("wb") as f:
        for topic, payload in sent:
            t = topic.encode()
            f.write(struct.pack("<II", len(t), len(payload)) + t + payload)


def read_batches(path: Path) -> list[tuple[str, bytes]]:
    """The (topic, payload) records of :func:`write_batches`."""
    data, pos, out = path.read_bytes(), 0, []
    while pos < len(data):
        nt, npay = struct.unpack_from("<II", data, pos)
        pos += 8
        out.append((data[pos : pos + nt].decode(), data[pos + nt : pos + nt + npay]))
        pos += nt + npay
    return out
