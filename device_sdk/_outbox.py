"""The durable outbox: SQLite in WAL mode with ``synchronous=FULL``, one row per batch.

A batch is committed here, with its ``seq``, before it is published, and deleted only once the
cloud confirms it is stored (:meth:`Outbox.confirm`; or at the broker's PUBACK for a cloud that
does not confirm). ``seq`` comes from the same transaction, so it survives SIGKILL and power loss
and is never reused; a high-water mark file beside the database keeps that promise even when the
database itself has to be replaced after corruption. Every row carries a CRC32 of its payload: a
row that fails it is never sent, it is dropped and reported as an evicted seq.

Bounded by bytes. Over the bound it evicts, in this order (the stated policy):
1. RAW before FEATURES: batches with raw samples are replaced by their features-only version
   (same seq, so no gap; counted as ``raw_dropped``);
2. whole batches: first those the broker has PUBACKed and the cloud not yet confirmed (most
   likely stored already: evicting them most likely loses nothing, and if they were lost the
   eviction explains the gap), then those without anomalies, lowest novelty, oldest;
3. a batch the broker refuses for good (e.g. not authorised, too large) is evicted on its own
   with reason ``refused`` (:meth:`Outbox.evict_one`).
Evicted seqs are recorded and attached to every new batch until one carrying them is confirmed.
Every change — a confirmation, an eviction pass — is one transaction (one fsync).

Batches encoded before the device heard the cloud's clock are listed in ``clock_pending`` (with
the offset they used and which windows the SDK timed); :meth:`Outbox.restamp` rewrites those of
the current boot once the offset is known. The same database holds the raw cache
(:mod:`device_sdk._rawcache`), written in the batch's transaction.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
import zlib
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from device_sdk._errors import OutboxError
from device_sdk._rawcache import RawCache, RawEntry

log = logging.getLogger(__name__)

_HWM_STEP = 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    created_ns INTEGER NOT NULL,
    priority REAL NOT NULL,
    anomaly INTEGER NOT NULL,
    nbytes INTEGER NOT NULL,
    crc INTEGER NOT NULL,
    payload BLOB NOT NULL,
    lite BLOB
);
-- The eviction ranges each queued batch reports; subtracted from `evicted` when it is acked.
CREATE TABLE IF NOT EXISTS carried (
    seq INTEGER NOT NULL,
    first INTEGER NOT NULL,
    last INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS carried_seq ON carried (seq);
CREATE TABLE IF NOT EXISTS evicted (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    first INTEGER NOT NULL,
    last INTEGER NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS clock_pending (
    seq INTEGER PRIMARY KEY,
    boot TEXT NOT NULL,
    offset_ns INTEGER NOT NULL,
    idx TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Eviction:
    first: int
    last: int
    reason: str


@dataclass(frozen=True, slots=True)
class Pending:
    seq: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class ClockMark:
    """A batch encoded on the device's own clock: its boot, the offset used, SDK-timed windows."""

    boot: str
    offset_ns: int
    indices: tuple[int, ...]


# build(seq, evictions) -> (payload, features-only payload or None)
Builder = Callable[[int, list[Eviction]], tuple[bytes, bytes | None]]
# rewrite(payload, delta_ns, window indices) -> payload
Rewriter = Callable[[bytes, int, Sequence[int]], bytes]


class Outbox:
    """Owned by one thread at a time (the device worker); not thread-safe by itself.

    ``durable=False`` skips every fsync (SQLite ``synchronous=OFF``, no sync of the high-water
    mark): a process crash still loses nothing, a power loss may. For simulators only.
    """

    def __init__(
        self, data_dir: Path, *, max_bytes: int, raw_cache_bytes: int = 0, durable: bool = True
    ) -> None:
        self.dir = Path(data_dir)
        self.max_bytes = max_bytes
        self._durable = durable
        self.path = self.dir / "outbox.sqlite3"
        self._hwm_path = self.dir / "seq.hwm"
        self.corrupt_rows = 0
        self.raw_dropped = 0
        self.evicted_batches = 0
        self.recovered_from_corruption = False
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._db = self._open()
        except (OSError, sqlite3.Error) as exc:
            raise OutboxError(f"cannot open outbox: {exc}", path=str(self.path)) from exc
        self._hwm = self._read_hwm()
        self.next_seq = max(self._meta("next_seq", 1), self._max_seq() + 1)
        if self.recovered_from_corruption:
            # Whatever was queued in the lost file lies below the high-water mark: report it all
            # (seqs already stored upstream are simply not gaps there).
            self.next_seq = max(self.next_seq, self._hwm)
            if self._hwm > 1:
                with self._tx("record the lost batches"):
                    self._record([Eviction(1, self._hwm - 1, "outbox_corrupt")])
        self._bytes = self._scalar("SELECT coalesce(sum(nbytes), 0) FROM outbox")
        self._depth = self._scalar("SELECT count(*) FROM outbox")
        self.raw_cache = RawCache(self._db, raw_cache_bytes)
        # The first seq this process is responsible for: what it found queued, else its first new.
        self.first_seq_at_open = self.oldest_seq() or self.next_seq

    # -- opening ---------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={'FULL' if self._durable else 'OFF'}")
        except sqlite3.Error:
            db.close()
            raise
        return db

    def _healthy(self) -> sqlite3.Connection | None:
        """A connection to the existing database if it passes a quick check, else None."""
        try:
            db = self._connect()
        except sqlite3.DatabaseError:
            return None
        try:
            if db.execute("PRAGMA quick_check").fetchone()[0] == "ok":
                return db
        except sqlite3.DatabaseError:
            pass
        db.close()
        return None

    def _open(self) -> sqlite3.Connection:
        db = self._healthy()
        if db is None:
            aside = self.path.with_name(f"outbox.corrupt-{time.time_ns()}.sqlite3")
            log.error("outbox %s is corrupt; moved to %s and starting afresh", self.path, aside)
            for suffix in ("", "-wal", "-shm"):
                p = Path(f"{self.path}{suffix}")
                if p.exists():
                    p.rename(f"{aside}{suffix}")
            self.recovered_from_corruption = True
            db = self._connect()
        db.executescript(_SCHEMA)
        return db

    def _read_hwm(self) -> int:
        try:
            return int(self._hwm_path.read_text().strip() or 1)
        except FileNotFoundError:
            return 1
        except ValueError:
            log.error("unreadable %s; using the database's seq", self._hwm_path)
            return 1

    def _write_hwm(self, value: int) -> None:
        tmp = self._hwm_path.with_suffix(".tmp")
        with open(tmp, "w") as fh:
            fh.write(str(value))
            fh.flush()
            if self._durable:
                os.fsync(fh.fileno())
        os.replace(tmp, self._hwm_path)
        if not self._durable:
            self._hwm = value
            return
        dfd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
        self._hwm = value

    def _scalar(self, sql: str, args: tuple[object, ...] = ()) -> int:
        row = self._db.execute(sql, args).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def _meta(self, key: str, default: int) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else default

    def _max_seq(self) -> int:
        return self._scalar("SELECT max(seq) FROM outbox")

    # -- the write side --------------------------------------------------------------------

    @property
    def depth(self) -> int:
        return self._depth

    @property
    def nbytes(self) -> int:
        return self._bytes

    def append(
        self,
        build: Builder,
        *,
        priority: float,
        anomaly: bool,
        clock: ClockMark | None = None,
        raw: Sequence[RawEntry] = (),
        raw_offset_ns: int = 0,
    ) -> int:
        """Allocate the next seq, build the payload with it and commit both; return the seq.

        ``clock`` marks a batch to re-stamp once the clock is known; ``raw`` windows go to the
        raw cache (SDK-timed ones shifted by ``raw_offset_ns``) in the same transaction.
        """
        seq = self.next_seq
        if seq >= self._hwm:
            self._write_hwm(seq + _HWM_STEP)
        evs = self.unreported_evictions()
        payload, lite = build(seq, evs)
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                "INSERT INTO outbox VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    seq,
                    time.time_ns(),
                    priority,
                    int(anomaly),
                    len(payload),
                    zlib.crc32(payload),
                    payload,
                    lite,
                ),
            )
            db.executemany(
                "INSERT INTO carried VALUES (?, ?, ?)", [(seq, e.first, e.last) for e in evs]
            )
            db.execute(
                "INSERT INTO meta VALUES ('next_seq', ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (seq + 1,),
            )
            if clock is not None:
                db.execute(
                    "INSERT INTO clock_pending VALUES (?, ?, ?, ?)",
                    (seq, clock.boot, clock.offset_ns, ",".join(map(str, clock.indices))),
                )
            self.raw_cache.stage(seq, raw, raw_offset_ns)
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise OutboxError(f"cannot write batch {seq}: {exc}", path=str(self.path)) from exc
        self.next_seq = seq + 1
        self._bytes += len(payload)
        self._depth += 1
        return seq

    def oldest_seq(self) -> int | None:
        row = self._db.execute("SELECT min(seq) FROM outbox").fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def pending(self, limit: int, exclude: set[int]) -> list[Pending]:
        """Up to ``limit`` batches to send, oldest first, skipping ``exclude`` (in flight)."""
        out: list[Pending] = []
        after = 0
        while len(out) < limit:
            rows = self._db.execute(
                "SELECT seq, crc, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, limit + len(exclude)),
            ).fetchall()
            if not rows:
                break
            for seq, crc, payload in rows:
                after = seq
                if seq in exclude:
                    continue
                if zlib.crc32(payload) != crc:
                    self._drop_corrupt(seq)
                    continue
                out.append(Pending(seq, payload))
                if len(out) == limit:
                    break
        return out

    @contextmanager
    def _tx(self, what: str) -> Iterator[None]:
        """One write transaction; the in-memory counters change only after it commits."""
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            yield
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise OutboxError(f"cannot {what}: {exc}", path=str(self.path)) from exc

    def _drop_corrupt(self, seq: int) -> None:
        log.error("outbox row %d failed its checksum; dropped and reported as evicted", seq)
        self.corrupt_rows += 1
        self.evict_one(seq, "corrupt")

    def _delete(self, seq: int) -> tuple[int, list[tuple[int, int]]] | None:
        """Forget batch ``seq`` (inside a transaction); return its size and the eviction ranges
        it carried, or None when it is not queued."""
        row = self._db.execute(
            "DELETE FROM outbox WHERE seq = ? RETURNING nbytes", (seq,)
        ).fetchone()
        if row is None:
            return None
        carried = self._db.execute(
            "DELETE FROM carried WHERE seq = ? RETURNING first, last", (seq,)
        ).fetchall()
        self._db.execute("DELETE FROM clock_pending WHERE seq = ?", (seq,))
        return int(row[0]), [(int(f), int(la)) for f, la in carried]

    def _record(self, new: Sequence[Eviction], reported: Sequence[tuple[int, int]] = ()) -> None:
        """Add ``new`` evictions and remove ``reported`` ranges, keeping the table merged
        (inside a transaction)."""
        evs = _subtract(_merge([*self.unreported_evictions(), *new]), reported)
        self._db.execute("DELETE FROM evicted")
        self._db.executemany(
            "INSERT INTO evicted (first, last, reason) VALUES (?, ?, ?)",
            [(e.first, e.last, e.reason) for e in evs],
        )

    def _forget(self, seqs: Sequence[int], evicted: Sequence[Eviction] = ()) -> list[int]:
        """Delete the batches ``seqs`` in one transaction. With ``evicted`` (they never reach
        the cloud) record those evictions; else (the cloud has them) forget the evictions they
        reported. Returns the seqs that were queued."""
        gone: list[int] = []
        freed = 0
        with self._tx(f"forget {len(seqs)} batches"):
            reported: list[tuple[int, int]] = []
            for seq in seqs:
                out = self._delete(seq)
                if out is None:
                    continue
                gone.append(seq)
                freed += out[0]
                reported += out[1]
            if evicted or reported:
                self._record(evicted, [] if evicted else reported)
        self._bytes -= freed
        self._depth -= len(gone)
        return gone

    def acked(self, seq: int) -> None:
        """The broker has the batch (a cloud that does not confirm): forget it."""
        self._forget([seq])

    def confirm(self, spans: Sequence[tuple[int, int]]) -> list[int]:
        """The cloud holds the batches in the inclusive ``spans``: forget them, and the
        evictions they reported, in one transaction. Returns the seqs that were queued."""
        seqs: list[int] = []
        for first, last in spans:
            rows = self._db.execute(
                "SELECT seq FROM outbox WHERE seq BETWEEN ? AND ?", (first, last)
            ).fetchall()
            seqs += [int(r[0]) for r in rows]
        return self._forget(seqs) if seqs else []

    def evict_one(self, seq: int, reason: str) -> bool:
        """Evict batch ``seq`` on its own (refused for good, corrupt); False if not queued."""
        gone = self._forget([seq], [Eviction(seq, seq, reason)])
        if gone and reason != "corrupt":
            self.evicted_batches += 1
        return bool(gone)

    def evict(self, inflight: set[int], delivered: Collection[int] = ()) -> list[Eviction]:
        """Apply the eviction policy until under ``max_bytes`` (one transaction); return the
        whole-batch evictions. ``inflight`` are never evicted, ``delivered`` (PUBACKed, not
        confirmed) go first."""
        out: list[Eviction] = []
        if self._bytes <= self.max_bytes:
            return out
        nbytes, depth, lite = self._bytes, self._depth, 0
        with self._tx("evict"):
            rows = self._db.execute(
                "SELECT seq, nbytes, length(lite) FROM outbox WHERE lite IS NOT NULL"
                " ORDER BY anomaly, priority, seq"
            ).fetchall()
            for seq, size, lite_len in rows:
                if nbytes <= self.max_bytes:
                    break
                if seq in inflight:
                    continue
                self._db.execute(
                    "UPDATE outbox SET payload = lite, nbytes = length(lite), crc = ?,"
                    " lite = NULL WHERE seq = ?",
                    (self._crc_of_lite(seq), seq),
                )
                nbytes -= size - lite_len
                lite += 1
            rows = self._db.execute(
                "SELECT seq FROM outbox ORDER BY anomaly, priority, seq"
            ).fetchall()
            rows.sort(key=lambda r: r[0] not in delivered)  # stable: policy order otherwise
            for (seq,) in rows:
                if nbytes <= self.max_bytes:
                    break
                if seq in inflight:
                    continue
                gone = self._delete(seq)
                if gone is None:
                    continue
                nbytes -= gone[0]
                depth -= 1
                out.append(Eviction(seq, seq, "outbox_full"))
            if out:
                self._record(out)
        self._bytes, self._depth = nbytes, depth
        self.raw_dropped += lite
        self.evicted_batches += len(out)
        return out

    def _crc_of_lite(self, seq: int) -> int:
        row = self._db.execute("SELECT lite FROM outbox WHERE seq = ?", (seq,)).fetchone()
        return zlib.crc32(row[0])

    def restamp(self, boot: str, offset_ns: int, rewrite: Rewriter) -> int:
        """Rewrite the batches of ``boot`` encoded with another offset; return how many."""
        db = self._db
        rows = db.execute(
            "SELECT p.seq, p.offset_ns, p.idx, o.payload, o.lite FROM clock_pending p"
            " JOIN outbox o ON o.seq = p.seq WHERE p.boot = ?",
            (boot,),
        ).fetchall()
        try:
            db.execute("BEGIN IMMEDIATE")
            for seq, used, idx, payload, lite in rows:
                delta = offset_ns - int(used)
                indices = [int(i) for i in idx.split(",") if i]
                new = rewrite(payload, delta, indices)
                new_lite = rewrite(lite, delta, indices) if lite is not None else None
                db.execute(
                    "UPDATE outbox SET payload = ?, nbytes = ?, crc = ?, lite = ? WHERE seq = ?",
                    (new, len(new), zlib.crc32(new), new_lite, seq),
                )
                self._bytes += len(new) - len(payload)
                self.raw_cache.shift(seq, delta)
            db.execute("DELETE FROM clock_pending WHERE boot = ?", (boot,))
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise OutboxError(f"cannot re-stamp batches: {exc}", path=str(self.path)) from exc
        return len(rows)

    def unreported_evictions(self) -> list[Eviction]:
        rows = self._db.execute("SELECT first, last, reason FROM evicted ORDER BY id").fetchall()
        return [Eviction(*r) for r in rows]

    def close(self) -> None:
        self._db.close()


def _merge(evs: Sequence[Eviction]) -> list[Eviction]:
    """Merge overlapping or adjacent ranges of the same reason into inclusive ranges."""
    out: list[Eviction] = []
    for ev in sorted(evs, key=lambda e: (e.reason, e.first)):
        if out and out[-1].reason == ev.reason and out[-1].last + 1 >= ev.first:
            out[-1] = Eviction(out[-1].first, max(out[-1].last, ev.last), ev.reason)
        else:
            out.append(ev)
    return sorted(out, key=lambda e: e.first)


def _subtract(evs: Sequence[Eviction], ranges: Sequence[tuple[int, int]]) -> list[Eviction]:
    """``evs`` less every seq in ``ranges`` (inclusive)."""
    out = list(evs)
    for lo, hi in ranges:
        nxt: list[Eviction] = []
        for e in out:
            if e.last < lo or e.first > hi:
                nxt.append(e)
                continue
            if e.first < lo:
                nxt.append(Eviction(e.first, lo - 1, e.reason))
            if e.last > hi:
                nxt.append(Eviction(hi + 1, e.last, e.reason))
        out = nxt
    return out
