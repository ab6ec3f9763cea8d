"""The raw cache: recent windows' samples kept on the device for ``SendRaw`` commands.

A table in the outbox database, written in the same transaction as the batch that carried the
windows (so it costs no extra fsync), bounded by ``max_bytes``: past the bound the oldest windows
go first. Samples are stored as little-endian float32, channel-major (no codec on the hot path;
they are encoded only when the cloud asks for them). ``t0_ns`` is the window time as it was
sent, re-stamped with its batch when the clock is corrected. Losing it is harmless: it is a
cache, the promise of the outbox does not extend to it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

_SCHEMA = """
CREATE TABLE IF NOT EXISTS raw_cache (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    seq INTEGER NOT NULL,
    sensor TEXT NOT NULL,
    t0_ns INTEGER NOT NULL,
    sdk_timed INTEGER NOT NULL,
    rate_hz REAL NOT NULL,
    channels INTEGER NOT NULL,
    n_samples INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS raw_cache_time ON raw_cache (t0_ns);
"""


@dataclass(frozen=True, slots=True)
class RawEntry:
    sensor: str
    t0_ns: int
    sdk_timed: bool
    rate_hz: float
    channels: int
    n_samples: int
    data: bytes  # float32 little-endian, channel-major


class RawCache:
    """Lives on the outbox's connection; the outbox owns the transactions."""

    def __init__(self, db: sqlite3.Connection, max_bytes: int) -> None:
        self._db = db
        self.max_bytes = max_bytes
        db.executescript(_SCHEMA)
        row = db.execute(
            "SELECT coalesce(sum(length(data)), 0), count(*) FROM raw_cache"
        ).fetchone()
        self.nbytes, self.count = int(row[0]), int(row[1])

    def stage(self, seq: int, entries: Sequence[RawEntry], offset_ns: int) -> None:
        """Insert ``entries`` (SDK-timed ones shifted by ``offset_ns``) and trim to the bound."""
        if self.max_bytes <= 0 or not entries:
            return
        self._db.executemany(
            "INSERT INTO raw_cache (seq, sensor, t0_ns, sdk_timed, rate_hz, channels, n_samples,"
            " data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    seq,
                    e.sensor,
                    e.t0_ns + offset_ns if e.sdk_timed else e.t0_ns,
                    int(e.sdk_timed),
                    e.rate_hz,
                    e.channels,
                    e.n_samples,
                    e.data,
                )
                for e in entries
            ],
        )
        self.nbytes += sum(len(e.data) for e in entries)
        self.count += len(entries)
        self._trim()

    def _trim(self) -> None:
        while self.nbytes > self.max_bytes and self.count:
            rows = self._db.execute(
                "DELETE FROM raw_cache WHERE id IN (SELECT id FROM raw_cache ORDER BY id LIMIT 32)"
                " RETURNING length(data)"
            ).fetchall()
            self.nbytes -= sum(int(r[0]) for r in rows)
            self.count -= len(rows)

    def shift(self, seq: int, delta_ns: int) -> None:
        """Re-stamp the SDK-timed windows that travelled in batch ``seq``."""
        self._db.execute(
            "UPDATE raw_cache SET t0_ns = t0_ns + ? WHERE seq = ? AND sdk_timed = 1",
            (delta_ns, seq),
        )

    def query(self, sensor: str, start_ns: int, end_ns: int, limit: int) -> list[RawEntry]:
        """Windows of ``sensor`` (every sensor when empty) with ``start_ns <= t0 < end_ns``."""
        rows = self._db.execute(
            "SELECT sensor, t0_ns, sdk_timed, rate_hz, channels, n_samples, data FROM raw_cache"
            " WHERE t0_ns >= ? AND t0_ns < ? AND (? = '' OR sensor = ?) ORDER BY t0_ns LIMIT ?",
            (start_ns, end_ns, sensor, sensor, limit),
        ).fetchall()
        return [RawEntry(s, int(t), bool(st), r, c, n, bytes(d)) for s, t, st, r, c, n, d in rows]
