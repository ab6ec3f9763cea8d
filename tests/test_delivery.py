"""The device's delivery state machine (pure): confirmation, republishing, refusals."""

from __future__ import annotations

import pytest

from device_sdk._delivery import Delivery, is_permanent

S = 1_000_000_000


def test_a_batch_is_done_only_when_confirmed_and_goes_again_after_the_timeout() -> None:
    d = Delivery(confirm_timeout_s=30, confirm_timeout_max_s=100)
    d.published(7, token=1)
    assert d.held(0) == {7}
    assert d.puback(1, True, "", now_ns=10 * S).what == "wait"  # a PUBACK is not durability
    assert d.held(39 * S) == {7} and d.held(40 * S) == set()
    assert d.published(7, token=2)  # a republish, same seq
    d.puback(2, True, "", now_ns=50 * S)
    assert d.held(109 * S) == {7} and d.held(110 * S) == set()  # the timeout doubled
    d.confirmed([(5, 8)], now_ns=60 * S)
    assert len(d) == 0 and d.held(0) == set()
    assert d.puback(99, True, "", now_ns=0) is None  # not a batch's token (the status message)


def test_reconnect_later_confirmations_and_flush_bring_republishing_forward() -> None:
    d = Delivery(confirm_timeout_s=30, gap_grace_s=5)
    for seq in (1, 2, 3):
        d.published(seq, token=seq)
        d.puback(seq, True, "", now_ns=0)
    assert d.held(1 * S) == {1, 2, 3}
    d.reconnected(now_ns=2 * S)  # the broker may have crashed with them
    assert d.held(2 * S) == set()
    for seq in (1, 2, 3):
        d.published(seq, token=10 + seq)
        d.puback(10 + seq, True, "", now_ns=3 * S)
    d.confirmed([(3, 3)], now_ns=4 * S)  # 1 and 2 were PUBACKed before 3 and are not confirmed
    assert d.held(8 * S) == {1, 2} and d.held(9 * S) == set()
    d.published(4, token=20)
    d.puback(20, True, "", now_ns=10 * S)
    assert 4 in d.held(14 * S, hurry=True) and 4 not in d.held(15 * S, hurry=True)
    assert 4 in d.held(15 * S)


def test_permanent_refusals_back_off_then_evict_transient_ones_never() -> None:
    d = Delivery(refusal_backoff_s=1, refusal_backoff_max_s=4, max_refusals=3)
    assert is_permanent("0x87 Not authorized") and not is_permanent("0x97 Quota exceeded")
    assert not is_permanent("publish error: queue full")
    d.published(5, token=1)
    assert d.puback(1, False, "0x87 Not authorized", now_ns=0).what == "wait"
    assert d.held(S - 1) == {5} and d.held(S) == set()
    d.published(5, token=2)
    assert d.puback(2, False, "0x87 Not authorized", now_ns=S).what == "wait"
    assert d.held(3 * S - 1) == {5} and d.held(3 * S) == set()  # backoff doubled
    d.published(5, token=3)
    done = d.puback(3, False, "0x87 Not authorized", now_ns=3 * S)
    assert (done.what, done.seq) == ("refused", 5) and len(d) == 0
    d.published(6, token=4)
    for k in range(10):
        assert d.publish_failed(6, "publish error: not connected", now_ns=k * S).what == "wait"
    assert d.held(9 * S) == {6}  # capped at 4 s, never evicted


def test_puback_mode_is_the_old_contract() -> None:
    d = Delivery(confirm="puback")
    d.published(3, token=1)
    assert d.puback(1, True, "", now_ns=0).what == "acked" and len(d) == 0
    with pytest.raises(ValueError):
        Delivery(confirm="never")  # type: ignore[arg-type]
