"""Scenario files: every shipped one loads, hand-written ones load, every error names its key."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import firmware_sim as fs
from firmware_sim._scenario import _ENTRY, _GROUP, _REPLAY, _TOP

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "simulator.md"

HEAD = 'name = "x"\nseed = 1\nduration_s = 600\n'
WRIST = '[[devices]]\nkind = "wrist"\ncount = 2\n'
MACHINE = '[[devices]]\nkind = "machine"\ncount = 1\n'


def load(tmp_path: Path, text: str, name: str = "x.toml") -> fs.Scenario:
    path = tmp_path / name
    path.write_text(text)
    return fs.load_scenario(path)


def test_every_shipped_scenario_loads_and_builds() -> None:
    shipped = dict(fs.shipped_scenarios())
    assert {"wearables", "factory", "mixed"} <= set(shipped)
    for name, description in shipped.items():
        sc = fs.load_scenario(name)
        assert sc.name == name and description == sc.description != ""
        fleet = fs.build_fleet(sc)
        assert len(fleet) == sc.device_count
        assert len({d.device_id for d in fleet}) == len(fleet)
        for dev in fleet:
            assert list(dev.labels) == sorted(dev.labels, key=lambda lab: lab.t_on)
            assert all(0 <= lab.t_on <= lab.t_off <= sc.duration_s for lab in dev.labels)


def test_mixed_has_every_kind_and_enough_labels_for_recall() -> None:
    sc = fs.load_scenario("mixed")
    labels = [lab for d in fs.build_fleet(sc) for lab in d.labels]
    kinds = {lab.kind for lab in labels}
    assert set(fs.EVENT_KINDS) | set(fs.SENSOR_FAULT_KINDS) <= kinds
    assert {"reboot", "partition", "reconnect_storm"} <= kinds
    scored = [lab for lab in labels if lab.category != "device_fault"]
    assert 50 <= len(scored) <= 150
    assert 24 <= sc.device_count <= 40 and {g.kind for g in sc.devices} == {
        "wrist",
        "machine",
        "env",
    }


def test_a_hand_written_scenario_loads(tmp_path: Path) -> None:
    sc = load(
        tmp_path,
        HEAD
        + 'description = "two watches and a pump"\nstart_hour = 22.5\n'
        + WRIST
        + 'network = "wifi"\nbattery = 0.5\nrate_hz = 25\nid_prefix = "w"\n'
        + MACHINE
        + '[[events]]\nkind = "tremor"\nrate_per_device_hour = 2\n'
        + '[[events]]\nkind = "fall"\ndevice = "w-00001"\nat_s = 30\nmagnitude = 5\n'
        + '[[faults]]\nkind = "stuck"\ndevices = ["machine"]\nsensor = "temp"\n'
        + "rate_per_device_hour = 1\n"
        + '[[faults]]\nkind = "clock_skew"\ndevice = "machine-00002"\nat_s = 10\nmagnitude = -3\n',
    )
    assert (sc.name, sc.seed, sc.duration_s, sc.start_hour) == ("x", 1, 600.0, 22.5)
    assert [d for d, _, _ in sc.device_ids()] == ["w-00000", "w-00001", "machine-00002"]
    w, m = sc.devices
    assert (w.network, w.battery, w.rate_hz, m.network) == ("wifi", 0.5, 25.0, "ethernet")
    assert w.sensors()[0].rate_hz == 25.0 and w.sensors()[1].rate_hz == 25.0  # accel, ppg
    fleet = {d.device_id: d for d in fs.build_fleet(sc)}
    fall = [lab for lab in fleet["w-00001"].labels if lab.kind == "fall"]
    assert fall[0].t_on == 30.0 and fall[0].sensor == "accel"
    assert fleet["machine-00002"].clock_skew_s(20) == -3.0
    assert fleet["w-00000"].battery_at(0) == 0.5


def test_replay_csv_with_header_and_npy(tmp_path: Path) -> None:
    rows = np.column_stack([np.arange(100.0), np.sin(np.arange(100.0)), np.ones(100)])
    (tmp_path / "rec.csv").write_text(
        "t,x,y\n" + "\n".join(",".join(repr(float(v)) for v in r) for r in rows)
    )
    np.save(tmp_path / "rec.npy", rows[:, 1:].astype(np.float32))
    sc = load(
        tmp_path,
        HEAD
        + '[[devices]]\nkind = "replay"\ncount = 2\npath = "rec.csv"\nrate_hz = 10\n'
        + 'speed = 4\ncolumns = ["x", 2]\n'
        + '[[devices]]\nkind = "replay"\ncount = 1\npath = "rec.npy"\nrate_hz = 100\n'
        + '[[faults]]\nkind = "dropout"\nrate_per_device_hour = 10\n',
    )
    a, b, c = fs.build_fleet(sc)
    assert a.sensors[0].name == "replay"
    assert (a.sensors[0].rate_hz, a.sensors[0].channels, c.sensors[0].channels) == (40.0, 2, 2)
    got = a.take("replay", 250)
    expect = np.tile(rows[:, 1:], (3, 1))[:250].astype(np.float32)
    dropped = np.isnan(got).any(axis=1)
    np.testing.assert_array_equal(got[~dropped], expect[~dropped])  # loops at the end
    second = b.take("replay", 10)
    kept = ~np.isnan(second)
    np.testing.assert_array_equal(second[kept], rows[50:60, 1:].astype(np.float32)[kept])


def test_an_event_sensor_narrows_the_devices(tmp_path: Path) -> None:
    sc = load(
        tmp_path,
        HEAD
        + MACHINE
        + '[[devices]]\nkind = "env"\ncount = 1\n'
        + '[[events]]\nkind = "overheat"\nat_s = 5\nsensor = "temp"\n',
    )
    machine, env = fs.build_fleet(sc)
    assert [(lab.kind, lab.sensor) for lab in machine.labels] == [("overheat", "temp")]
    assert env.labels == ()


def test_events_cannot_target_a_replay(tmp_path: Path) -> None:
    np.save(tmp_path / "rec.npy", np.zeros(10))
    replay = '[[devices]]\nkind = "replay"\ncount = 1\npath = "rec.npy"\nrate_hz = 1\n'
    with pytest.raises(fs.ScenarioError, match=r"events\[0\]\.kind: .*'fall'"):
        load(tmp_path, HEAD + replay + '[[events]]\nkind = "fall"\nrate_per_device_hour = 1\n')


BAD = [
    ("colour = 1\n" + WRIST, "colour", "unknown key"),
    (WRIST.replace('"wrist"', '"toaster"'), "devices[0].kind", "must be one of"),
    (WRIST.replace("2", "0"), "devices[0].count", "must be >= 1, got 0"),
    (WRIST.replace("2", "true"), "devices[0].count", "must be an integer"),
    (WRIST + "bogus = 1\n", "devices[0].bogus", "unknown key"),
    (WRIST + 'network = "5g"\n', "devices[0].network", "must be one of"),
    (WRIST + "battery = 1.5\n", "devices[0].battery", "must be <= 1, got 1.5"),
    (WRIST + "rate_hz = -5\n", "devices[0].rate_hz", "must be > 0"),
    (WRIST + 'id_prefix = "a b"\n', "devices[0].id_prefix", ""),
    (WRIST + 'path = "x.csv"\n', "devices[0].path", "unknown key"),
    ('[[devices]]\nkind = "replay"\ncount = 1\npath = "x.npy"\n', "devices[0].rate_hz", "missing"),
    (
        '[[devices]]\nkind = "replay"\ncount = 1\nrate_hz = 5\npath = "nope.npy"\n',
        "devices[0].path",
        "",
    ),
    ("", "devices", "at least one"),
    (
        WRIST + '[[events]]\nkind = "fall"\nrate_per_device_hour = -1\n',
        "events[0].rate_per_device_hour",
        "must be >= 0, got -1",
    ),
    (
        WRIST + '[[events]]\nkind = "fall"\nrate_per_device_hour = 1\nwhen = 3\n',
        "events[0].when",
        "unknown key",
    ),
    (
        WRIST + '[[events]]\nkind = "bearing_fault"\nrate_per_device_hour = 1\n',
        "events[0].kind",
        "no device kind in this scenario has 'bearing_fault' (it needs machine)",
    ),
    (
        WRIST + '[[events]]\nkind = "stuck"\nrate_per_device_hour = 1\n',
        "events[0].kind",
        "[[faults]]",
    ),
    (
        WRIST + '[[faults]]\nkind = "fall"\nrate_per_device_hour = 1\n',
        "faults[0].kind",
        "[[events]]",
    ),
    (
        WRIST + '[[events]]\nkind = "fall"\n',
        "events[0]",
        "exactly one of rate_per_device_hour and at_s",
    ),
    (
        WRIST + '[[events]]\nkind = "fall"\nat_s = 1\nrate_per_device_hour = 1\n',
        "events[0]",
        "exactly one",
    ),
    (WRIST + '[[events]]\nkind = "fall"\nat_s = 600\n', "events[0].at_s", "must be < 600"),
    (
        WRIST + '[[events]]\nkind = "fall"\nat_s = 1\ndevice = "wrist-00009"\n',
        "events[0].device",
        "no device",
    ),
    (
        WRIST + '[[events]]\nkind = "fall"\nrate_per_device_hour = 1\ndevice = "wrist-00001"\n',
        "events[0].device",
        "needs at_s",
    ),
    (
        WRIST + '[[events]]\nkind = "fall"\nrate_per_device_hour = 1\nsensor = "ppg"\n',
        "events[0].sensor",
        "",
    ),
    (
        WRIST + '[[events]]\nkind = "fall"\nrate_per_device_hour = 1\ndevices = "machine"\n',
        "events[0].devices",
        "no [[devices]] group of kind 'machine'",
    ),
    (
        WRIST + '[[events]]\nkind = "fall"\nrate_per_device_hour = 1\nmagnitude = -2\n',
        "events[0].magnitude",
        "must be > 0",
    ),
    (
        WRIST + '[[faults]]\nkind = "stuck"\nrate_per_device_hour = 1\nmagnitude = 2\n',
        "faults[0].magnitude",
        "takes no magnitude",
    ),
    (
        WRIST + '[[faults]]\nkind = "drift"\nrate_per_device_hour = 1\nsensor = "vib"\n',
        "faults[0].sensor",
        "",
    ),
    (
        WRIST + '[[faults]]\nkind = "partition"\nrate_per_device_hour = 1\nsensor = "ppg"\n',
        "faults[0].sensor",
        "device fault",
    ),
    (
        WRIST + '[[faults]]\nkind = "reconnect_storm"\nrate_per_device_hour = 1\n',
        "faults[0].rate_per_device_hour",
        "give at_s",
    ),
    (
        WRIST + '[[faults]]\nkind = "battery_drain"\nat_s = 1\nmagnitude = 0.5\n',
        "faults[0].magnitude",
        ">= 1",
    ),
    (
        WRIST + '[[faults]]\nkind = "clock_skew"\nat_s = 1\nmagnitude = 0\n',
        "faults[0].magnitude",
        "not be 0",
    ),
    (
        WRIST + '[[faults]]\nkind = "partition"\nat_s = 1\nduration_s = 0\n',
        "faults[0].duration_s",
        "> 0",
    ),
    (
        WRIST
        + '[[events]]\nkind = "fall"\nat_s = 10\ndevice = "wrist-00000"\nduration_s = 30\n'
        + '[[events]]\nkind = "tremor"\nat_s = 20\ndevice = "wrist-00000"\n',
        "events[1]",
        "overlaps events[0] on wrist-00000 accel",
    ),
]


@pytest.mark.parametrize(("body", "key", "reason"), BAD, ids=[f"{k}:{r[:20]}" for _, k, r in BAD])
def test_every_error_names_its_key(tmp_path: Path, body: str, key: str, reason: str) -> None:
    with pytest.raises(fs.ScenarioError) as info:
        load(tmp_path, HEAD + body)
    msg = str(info.value)
    assert msg.startswith(f"scenario x.toml: {key}: "), msg
    assert reason in msg
    assert info.value.key == key and info.value.source == "x.toml"
    assert isinstance(info.value, fs.SimError)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("seed = 1\nduration_s = 5\n" + WRIST, "name"),
        ('name = "x"\nseed = -1\nduration_s = 5\n' + WRIST, "seed"),
        ('name = "x"\nseed = 1\n' + WRIST, "duration_s"),
        (HEAD + "start_hour = 24\n" + WRIST, "start_hour"),
    ],
)
def test_top_level_errors_name_their_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(fs.ScenarioError, match=rf"^scenario x.toml: {key}: "):
        load(tmp_path, text)


def test_unreadable_scenarios_say_why(tmp_path: Path) -> None:
    with pytest.raises(fs.ScenarioError, match=r"^scenario x.toml: invalid TOML"):
        load(tmp_path, "name = [\n")
    with pytest.raises(
        fs.ScenarioError, match=r"no such file or shipped scenario \(shipped: factory"
    ):
        fs.load_scenario("no-such-scenario")


def test_the_docs_describe_every_key_kind_sensor_and_network() -> None:
    text = DOC.read_text()
    scenarios = text[text.index("## Scenarios") : text.index("## Sensor models")]
    for key in (*_TOP, *_GROUP, *_REPLAY, *_ENTRY):
        assert re.search(rf"`{key}`", scenarios), key
    for name in (
        *fs.EVENT_KINDS,
        *fs.SENSOR_FAULT_KINDS,
        *fs.DEVICE_FAULT_KINDS,
        *fs.NETWORK_PROFILES,
    ):
        assert f"`{name}`" in text, name
    for kind, sensors in fs.DEVICE_SENSORS.items():
        assert f"`{kind}`" in text
        for s in sensors:
            assert f"`{s.name}`" in text, s.name
    assert "## Evaluation" in text
