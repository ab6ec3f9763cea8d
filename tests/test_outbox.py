"""The durable outbox on real SQLite files: seq allocation, pending/acked, CRC, eviction policy,
eviction reporting and recovery from a corrupt database."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from device_sdk import Eviction, Outbox

BIG = 10**9


class Builds:
    """A builder that records the evictions each batch was built with."""

    def __init__(self, size: int = 100, lite: int | None = None) -> None:
        self.size, self.lite = size, lite
        self.seen: dict[int, list[Eviction]] = {}

    def __call__(self, seq: int, evs: list[Eviction]) -> tuple[bytes, bytes | None]:
        self.seen[seq] = list(evs)
        body = f"batch-{seq}:".encode()
        payload = body + b"R" * (self.size - len(body))
        lite = None if self.lite is None else body + b"L" * (self.lite - len(body))
        return payload, lite


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Outbox]:
    ob = Outbox(tmp_path / "ob", max_bytes=BIG)
    yield ob
    ob.close()


def add(ob: Outbox, build: Builds, *, priority: float = 0.0, anomaly: bool = False) -> int:
    return ob.append(build, priority=priority, anomaly=anomaly)


def seqs(ob: Outbox) -> list[int]:
    return [p.seq for p in ob.pending(1000, set())]


def test_seq_starts_at_one_and_survives_reopen_even_when_empty(tmp_path: Path) -> None:
    d = tmp_path / "ob"
    ob = Outbox(d, max_bytes=BIG)
    b = Builds()
    assert [add(ob, b) for _ in range(3)] == [1, 2, 3]
    for s in (1, 2, 3):
        ob.acked(s)
    assert ob.depth == 0
    ob.close()
    ob = Outbox(d, max_bytes=BIG)
    try:
        assert ob.next_seq == 4
        assert add(ob, b) == 4
    finally:
        ob.close()


def test_unacked_batches_survive_reopen_with_their_payloads(tmp_path: Path) -> None:
    d = tmp_path / "ob"
    ob = Outbox(d, max_bytes=BIG)
    b = Builds()
    for _ in range(3):
        add(ob, b)
    ob.acked(2)
    ob.close()
    ob = Outbox(d, max_bytes=BIG)
    try:
        got = ob.pending(10, set())
        assert [p.seq for p in got] == [1, 3]
        assert got[0].payload.startswith(b"batch-1:")
        assert ob.depth == 2 and ob.nbytes == 200
        assert add(ob, b) == 4
    finally:
        ob.close()


def test_pending_is_oldest_first_limited_and_excludes_in_flight(box: Outbox) -> None:
    b = Builds()
    for _ in range(6):
        add(box, b)
    assert [p.seq for p in box.pending(3, set())] == [1, 2, 3]
    assert [p.seq for p in box.pending(3, {1, 2, 3})] == [4, 5, 6]
    assert [p.seq for p in box.pending(10, {2, 5})] == [1, 3, 4, 6]
    assert [p.seq for p in box.pending(2, {1, 3})] == [2, 4]
    assert box.pending(5, {1, 2, 3, 4, 5, 6}) == []


def test_acked_removes_and_updates_accounting(box: Outbox) -> None:
    b = Builds(size=150)
    for _ in range(3):
        add(box, b)
    assert (box.depth, box.nbytes, box.oldest_seq()) == (3, 450, 1)
    box.acked(1)
    assert (box.depth, box.nbytes, box.oldest_seq()) == (2, 300, 2)
    box.acked(1)  # a duplicate ack changes nothing
    assert (box.depth, box.nbytes) == (2, 300)
    box.acked(3)
    box.acked(2)
    assert (box.depth, box.nbytes, box.oldest_seq()) == (0, 0, None)
    assert box.pending(10, set()) == []


def flip_payload_byte(path: Path, seq: int) -> None:
    db = sqlite3.connect(path)
    try:
        (payload,) = db.execute("SELECT payload FROM outbox WHERE seq = ?", (seq,)).fetchone()
        bad = bytearray(payload)
        bad[len(bad) // 2] ^= 0x40
        db.execute("UPDATE outbox SET payload = ? WHERE seq = ?", (bytes(bad), seq))
        db.commit()
    finally:
        db.close()


def test_crc_corrupt_row_is_never_sent_and_is_reported_as_evicted(box: Outbox) -> None:
    b = Builds()
    for _ in range(3):
        add(box, b)
    flip_payload_byte(box.path, 2)
    got = box.pending(10, set())
    assert [p.seq for p in got] == [1, 3]
    assert all(p.payload.startswith(f"batch-{p.seq}:".encode()) for p in got)
    assert box.corrupt_rows == 1
    assert box.depth == 2 and box.nbytes == 200
    assert box.unreported_evictions() == [Eviction(2, 2, "corrupt")]
    seq = add(box, b)
    assert b.seen[seq] == [Eviction(2, 2, "corrupt")]
    # a second look does not count it again
    box.pending(10, set())
    assert box.corrupt_rows == 1


def test_raw_is_stripped_before_any_batch_is_evicted(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "ob", max_bytes=2500)
    try:
        raw = Builds(size=1000, lite=100)
        add(ob, raw, priority=5.0)
        add(ob, raw, priority=1.0)  # lowest priority, not an anomaly: stripped first
        add(ob, raw, priority=0.0, anomaly=True)
        assert ob.nbytes == 3000
        assert ob.evict(set()) == []
        assert ob.raw_dropped == 1
        assert ob.evicted_batches == 0
        assert ob.nbytes == 2100
        got = {p.seq: p.payload for p in ob.pending(10, set())}
        assert sorted(got) == [1, 2, 3]  # same seqs: no gap
        assert got[2] == b"batch-2:" + b"L" * 92
        assert got[1].endswith(b"R") and got[3].endswith(b"R")
        assert ob.unreported_evictions() == []
    finally:
        ob.close()


def test_raw_of_an_anomaly_goes_before_a_whole_ordinary_batch(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "ob", max_bytes=1150)
    try:
        add(ob, Builds(size=100), priority=0.0)  # ordinary, features only
        add(ob, Builds(size=1100, lite=100), priority=9.0, anomaly=True)
        ob.evict(set())
        assert seqs(ob) == [1, 2]
        assert (ob.raw_dropped, ob.evicted_batches, ob.nbytes) == (1, 0, 200)
    finally:
        ob.close()


def test_whole_batches_go_ordinary_first_lowest_priority_first_oldest_first(
    tmp_path: Path,
) -> None:
    ob = Outbox(tmp_path / "ob", max_bytes=BIG)
    try:
        b = Builds(size=100)
        add(ob, b, priority=0.5)  # 1
        add(ob, b, priority=0.1)  # 2
        add(ob, b, priority=0.0, anomaly=True)  # 3: an anomaly goes last
        add(ob, b, priority=0.1)  # 4
        add(ob, b, priority=0.9)  # 5
        ob.max_bytes = 250
        out = ob.evict(set())
        assert [(e.first, e.last) for e in out] == [(2, 2), (4, 4), (1, 1)]
        assert {e.reason for e in out} == {"outbox_full"}
        assert seqs(ob) == [3, 5]
        assert ob.evicted_batches == 3
        assert ob.nbytes == 200 and ob.depth == 2
        # recorded as merged inclusive ranges
        assert ob.unreported_evictions() == [
            Eviction(1, 2, "outbox_full"),
            Eviction(4, 4, "outbox_full"),
        ]
    finally:
        ob.close()


def test_in_flight_batches_are_not_evicted(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "ob", max_bytes=BIG)
    try:
        b = Builds(size=100)
        for _ in range(4):
            add(ob, b)
        ob.max_bytes = 150
        out = ob.evict({1, 2})
        assert [e.first for e in out] == [3, 4]
        assert seqs(ob) == [1, 2]
    finally:
        ob.close()


def test_evictions_ride_on_every_new_batch_until_one_carrying_them_is_acked(
    tmp_path: Path,
) -> None:
    ob = Outbox(tmp_path / "ob", max_bytes=BIG)
    try:
        b = Builds(size=100)
        for _ in range(4):
            add(ob, b)
        ob.max_bytes = 200
        ob.evict(set())  # evicts 1 and 2
        s5 = add(ob, b)
        s6 = add(ob, b)
        assert b.seen[s5] == b.seen[s6] == [Eviction(1, 2, "outbox_full")]
        ob.max_bytes = BIG
        ob.acked(3)  # carries no evictions: they stay
        s7 = add(ob, b)
        assert b.seen[s7] == [Eviction(1, 2, "outbox_full")]
        ob.acked(s5)
        assert ob.unreported_evictions() == []
        s8 = add(ob, b)
        assert b.seen[s8] == []
    finally:
        ob.close()


def test_ack_only_clears_the_evictions_the_acked_batch_carried(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "ob", max_bytes=BIG)
    try:
        b = Builds(size=100)
        for _ in range(3):
            add(ob, b)
        ob.max_bytes = 200
        ob.evict(set())  # evicts 1
        s4 = add(ob, b)  # carries 1..1
        assert b.seen[s4] == [Eviction(1, 1, "outbox_full")]
        ob.evict(set())  # evicts 2, after s4 was built
        ob.acked(s4)
        assert ob.unreported_evictions() == [Eviction(2, 2, "outbox_full")]
        s5 = add(ob, b)
        assert b.seen[s5] == [Eviction(2, 2, "outbox_full")]
    finally:
        ob.close()


def test_evictions_survive_reopen(tmp_path: Path) -> None:
    d = tmp_path / "ob"
    ob = Outbox(d, max_bytes=100)
    b = Builds(size=100)
    add(ob, b)
    add(ob, b)
    ob.evict(set())
    ob.close()
    ob = Outbox(d, max_bytes=BIG)
    try:
        assert ob.unreported_evictions() == [Eviction(1, 1, "outbox_full")]
        s = add(ob, b)
        assert s == 3
        assert b.seen[s] == [Eviction(1, 1, "outbox_full")]
    finally:
        ob.close()


def fill_and_close(d: Path, n: int) -> int:
    ob = Outbox(d, max_bytes=BIG)
    b = Builds(size=3000)
    last = 0
    for _ in range(n):
        last = add(ob, b)
    ob.close()
    return last


def test_corrupt_pages_move_the_database_aside_and_seq_continues_above_hwm(
    tmp_path: Path,
) -> None:
    d = tmp_path / "ob"
    last = fill_and_close(d, 20)
    path = d / "outbox.sqlite3"
    data = bytearray(path.read_bytes())
    for off in range(4096, len(data), 4096):  # keep the header, wreck every other page
        data[off : off + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))
    ob = Outbox(d, max_bytes=BIG)
    try:
        assert ob.recovered_from_corruption
        assert list(d.glob("outbox.corrupt-*.sqlite3"))
        assert ob.depth == 0
        assert ob.next_seq > last
        assert add(ob, Builds()) > last
    finally:
        ob.close()


def test_garbage_database_file_is_moved_aside_and_seq_continues(tmp_path: Path) -> None:
    d = tmp_path / "ob"
    last = fill_and_close(d, 3)
    (d / "outbox.sqlite3").write_bytes(b"not a database, just garbage\n" * 1000)
    ob = Outbox(d, max_bytes=BIG)
    try:
        assert ob.recovered_from_corruption
        assert list(d.glob("outbox.corrupt-*.sqlite3"))
        seq = add(ob, Builds())
        assert seq > last
    finally:
        ob.close()


def test_seq_never_goes_below_a_used_one_after_recovery_past_the_first_hwm_step(
    tmp_path: Path,
) -> None:
    d = tmp_path / "ob"
    ob = Outbox(d, max_bytes=BIG)
    # pretend many batches were sent: jump the counter past one high-water step
    ob.next_seq = 1500
    b = Builds()
    last = add(ob, b)
    assert last == 1500
    ob.close()
    path = d / "outbox.sqlite3"
    data = bytearray(path.read_bytes())
    for off in range(4096, len(data), 4096):
        data[off : off + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))
    ob = Outbox(d, max_bytes=BIG)
    try:
        assert ob.recovered_from_corruption
        assert add(ob, b) > last
    finally:
        ob.close()


def test_batches_lost_with_a_corrupt_database_are_reported(tmp_path: Path) -> None:
    d = tmp_path / "ob"
    last = fill_and_close(d, 20)
    path = d / "outbox.sqlite3"
    data = bytearray(path.read_bytes())
    for off in range(4096, len(data), 4096):
        data[off : off + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))
    ob = Outbox(d, max_bytes=BIG)
    try:
        b = Builds()
        s = add(ob, b)
        assert any(e.first <= 1 and e.last >= last for e in b.seen[s])
    finally:
        ob.close()


def test_evicted_ranges_from_separate_evictions_are_merged(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "ob", max_bytes=250)
    try:
        b = Builds(size=100)
        for _ in range(50):  # offline: each append pushes the oldest out
            add(ob, b)
            ob.evict(set())
        assert ob.evicted_batches == 48
        assert ob.unreported_evictions() == [Eviction(1, 48, "outbox_full")]
        assert len(b.seen[50]) <= 2
    finally:
        ob.close()


def test_evicted_ranges_stay_complete_when_merging_would_apply(tmp_path: Path) -> None:
    # whatever the merging, every evicted seq stays reported until acked
    ob = Outbox(tmp_path / "ob", max_bytes=250)
    try:
        b = Builds(size=100)
        for _ in range(20):
            add(ob, b)
            ob.evict(set())
        reported = {s for e in ob.unreported_evictions() for s in range(e.first, e.last + 1)}
        assert reported == set(range(1, 19))
        assert seqs(ob) == [19, 20]
        carried = {s for e in b.seen[20] for s in range(e.first, e.last + 1)}
        assert carried == set(range(1, 18))  # 18 was evicted after 20 was built
        ob.max_bytes = BIG
        ob.acked(19)
        ob.acked(20)
        left = {s for e in ob.unreported_evictions() for s in range(e.first, e.last + 1)}
        assert left == {18}
        s21 = add(ob, b)
        assert {s for e in b.seen[s21] for s in range(e.first, e.last + 1)} == {18}
    finally:
        ob.close()
