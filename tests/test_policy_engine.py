"""The policy engine's rules, operators' scopes and the Policy command they make (pure)."""

from __future__ import annotations

import pytest

import protos
from cloud_core import (
    DeviceRound,
    Override,
    PolicyEngine,
    PolicyEngineConfig,
    PolicyError,
    RoundTally,
    Scope,
    pins_for,
    policy_message,
)
from cloud_core._policy_scopes import check_fields


def _round(windows: int, novel: int, *, battery: float = -1.0, summaries: int = 1) -> DeviceRound:
    return DeviceRound("t", "d", windows, novel, 0, battery, summaries)


def test_a_device_that_alarms_on_everything_steps_up_fast_and_down_slowly() -> None:
    eng = PolicyEngine(PolicyEngineConfig(target_flag_rate=0.02), default_threshold=1.0)
    (ch,) = eng.round([_round(100, 100)])  # 50x the target: 3 steps at most
    assert ch.fields == {"novelty_threshold": 3.375} and ch.version == 1
    (ch,) = eng.round([_round(100, 5)])  # 2.5x: one step
    assert ch.fields["novelty_threshold"] == pytest.approx(5.0625, abs=1e-4)
    assert eng.round([_round(100, 2)]) == []  # on target: nothing to send
    (ch,) = eng.round([_round(100, 0)])  # silent: one step down
    assert ch.fields["novelty_threshold"] == pytest.approx(3.375, abs=1e-4) and ch.version == 3


def test_counts_add_up_until_they_can_tell() -> None:
    eng = PolicyEngine(PolicyEngineConfig(min_windows=50), default_threshold=4.0)
    assert eng.round([_round(30, 0)]) == []  # 30 quiet windows cannot tell 1 % from 5 %
    (ch,) = eng.round([_round(30, 0)])  # 60 can
    assert ch.fields["novelty_threshold"] < 4.0
    # but 3 novel windows in 10 already exceed what 50 could hold at twice the target
    (ch,) = eng.round([_round(10, 3)])
    assert ch.reason.startswith("flag rate 0.300")


def test_only_synergy_devices_are_steered_by_their_flag_rate() -> None:
    eng = PolicyEngine()
    assert eng.round([_round(100, 100, summaries=0)]) == []


def test_battery_low_then_recovered_with_hysteresis() -> None:
    eng = PolicyEngine(PolicyEngineConfig(heartbeat_s=300.0))
    assert eng.round([_round(100, 2, battery=0.5)]) == []
    (low,) = eng.round([_round(100, 2, battery=0.15)])
    assert low.fields == {"novelty_threshold": 4.0, "heartbeat_s": 600.0, "raw_per_episode": 1}
    assert eng.round([_round(100, 2, battery=0.25)]) == []  # within the hysteresis
    (back,) = eng.round([_round(100, 2, battery=0.35)])
    assert back.fields == {"novelty_threshold": 4.0, "heartbeat_s": 300.0, "raw_per_episode": 2}


def test_pinned_fields_are_never_changed_by_the_engine() -> None:
    eng = PolicyEngine()
    assert eng.set_pins("t", "d", {"novelty_threshold": 9.0, "heartbeat_s": 60.0})
    assert not eng.set_pins("t", "d", {"novelty_threshold": 9.0, "heartbeat_s": 60.0})
    assert eng.round([_round(100, 100, battery=0.05)]) == []
    assert eng.fields("t", "d") == {"novelty_threshold": 9.0, "heartbeat_s": 60.0}
    assert eng.bump("t", "d", "operator").version == 1


def test_the_narrowest_scope_wins_and_groups_are_globs() -> None:
    ovs = [
        Override(Scope("device", "wrist-1"), {"heartbeat_s": 10.0}),
        Override(Scope("tenant"), {"novelty_threshold": 3.0, "heartbeat_s": 100.0}),
        Override(Scope("group", "wrist-*"), {"novelty_threshold": 6.0}),
    ]
    assert pins_for("wrist-1", ovs) == {
        "novelty_threshold": (6.0, "operator:group:wrist-*"),
        "heartbeat_s": (10.0, "operator:device"),
    }
    assert pins_for("env-1", ovs) == {
        "novelty_threshold": (3.0, "operator:tenant"),
        "heartbeat_s": (100.0, "operator:tenant"),
    }


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"bogus": 1.0}, "unknown policy field 'bogus'"),
        ({"heartbeat_s": 0.0}, "heartbeat_s must be 0.1..86400"),
        ({"raw_per_episode": 1.5}, "must be a whole number"),
        ({"explore_fraction": float("nan")}, "explore_fraction must be 0..1"),
    ],
)
def test_bad_fields_are_refused_with_the_reason(fields: dict[str, float], why: str) -> None:
    with pytest.raises(PolicyError, match=why):
        check_fields(fields)


def test_bad_scopes_are_refused() -> None:
    for kind, key, why in (
        ("tenant", "x", "has no key"),
        ("group", "", "needs a key"),
        ("device", "a/b", "device id"),
        ("fleet", "x", "unknown scope"),
    ):
        with pytest.raises(PolicyError, match=why):
            Scope(kind, key)  # type: ignore[arg-type]


def test_the_policy_command_lists_zero_fields_as_explicit() -> None:
    p = policy_message({"explore_fraction": 0.0, "raw_per_episode": 1.0, "heartbeat_s": 60}, 4)
    assert (p.raw_per_episode, p.heartbeat_s, p.policy_version) == (1, 60.0, 4)
    assert list(p.explicit) == ["explore_fraction"]


def test_the_tally_takes_devices_up_to_their_heartbeat() -> None:
    tally = RoundTally()
    b = protos.TelemetryBatch(tenant="t", device_id="d", seq=1)
    b.windows.add(flags=int(protos.WindowFlag.FLAG_NOVEL))
    b.windows.add(flags=int(protos.WindowFlag.FLAG_NOVEL) | 2)  # flagged too: not novel-only
    tally.add(b, 100)
    assert tally.take() == []  # no heartbeat yet: its summaries are still to come
    hb = protos.TelemetryBatch(tenant="t", device_id="d", seq=2)
    hb.summaries.add(windows=20, novel=3)
    hb.health.battery = 0.5
    tally.add(hb, 50)
    assert tally.take() == [DeviceRound("t", "d", 22, 4, 150, 0.5, 1, 0)]
    assert tally.take() == []


def test_a_device_behind_its_version_gets_its_policy_again_once() -> None:
    eng = PolicyEngine(default_threshold=1.0)
    (ch,) = eng.round([_round(100, 100)])
    behind = DeviceRound("t", "d", 100, 2, 0, -1.0, 1, policy_version=0)  # it rebooted
    (again,) = eng.round([behind])
    assert (again.version, again.fields) == (ch.version, ch.fields)
    assert again.reason == "device runs v0"
    assert eng.round([behind]) == []  # once per version (old firmware always says 0)
