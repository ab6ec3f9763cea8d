"""Scenarios: a TOML file naming a fleet, its events and its faults (schema: docs/simulator.md).

:func:`load_scenario` reads a shipped scenario by name or any ``.toml`` file and validates it
completely: every complaint is a :class:`ScenarioError` naming the key, unknown keys included.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from firmware_sim._catalog import (
    DEFAULT_NETWORK,
    DEVICE_FAULT,
    DEVICE_KINDS,
    DEVICE_SENSORS,
    EVENT,
    EVENT_KINDS,
    KINDS,
    NETWORK_PROFILES,
    SensorInfo,
    applies_to,
    sensors_of,
)
from firmware_sim._errors import ScenarioError
from firmware_sim._replayfile import read_replay
from firmware_sim._schedule import schedule
from firmware_sim._toml import Reader

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_ID_PREFIX = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
_TOP = ("name", "seed", "duration_s", "description", "start_hour", "devices", "events", "faults")
_GROUP = ("kind", "count", "rate_hz", "battery", "network", "id_prefix")
_REPLAY = ("path", "speed", "columns")
_ENTRY = (
    "kind",
    "rate_per_device_hour",
    "at_s",
    "device",
    "duration_s",
    "sensor",
    "devices",
    "magnitude",
)


@dataclass(frozen=True, slots=True)
class DeviceGroup:
    """``count`` devices of ``kind`` (a ``[[devices]]`` table)."""

    kind: str
    count: int
    rate_hz: float | None = None  # the primary sensor's rate; None: the kind's default
    battery: float = 1.0
    network: str = "wifi"
    id_prefix: str | None = None
    path: Path | None = None  # replay only
    speed: float = 1.0  # replay only
    columns: tuple[str | int, ...] | None = None  # replay only
    data: np.ndarray | None = field(default=None, compare=False, repr=False)  # replay samples

    def sensors(self) -> tuple[SensorInfo, ...]:
        """The sensors of each device of the group (``rate_hz`` sets the primary one's rate)."""
        infos = list(DEVICE_SENSORS[self.kind])
        if self.kind == "replay":
            channels = self.data.shape[1] if self.data is not None else 0
            rate = (self.rate_hz or 0.0) * self.speed
            infos[0] = dataclasses.replace(infos[0], rate_hz=rate, channels=channels)
        elif self.rate_hz is not None:
            infos[0] = dataclasses.replace(infos[0], rate_hz=self.rate_hz)
        return tuple(infos)


@dataclass(frozen=True, slots=True)
class InjectionSpec:
    """One ``[[events]]`` or ``[[faults]]`` table (``section`` says which, ``index`` where)."""

    section: str
    index: int
    kind: str
    rate_per_device_hour: float | None = None
    at_s: float | None = None
    device: str | None = None
    duration_s: float | None = None
    sensor: str | None = None
    devices: tuple[str, ...] | None = None  # device-kind filter
    magnitude: float | None = None

    @property
    def key(self) -> str:
        return f"{self.section}[{self.index}]"


@dataclass(frozen=True, slots=True)
class Scenario:
    """A validated scenario. ``start_hour`` is the local time of day at t = 0 (hours)."""

    name: str
    seed: int
    duration_s: float
    devices: tuple[DeviceGroup, ...]
    events: tuple[InjectionSpec, ...] = ()
    faults: tuple[InjectionSpec, ...] = ()
    description: str = ""
    start_hour: float = 8.0
    source: str = "<memory>"

    @property
    def device_count(self) -> int:
        return sum(g.count for g in self.devices)

    def device_ids(self) -> list[tuple[str, str, int]]:
        """``(device_id, kind, group index)`` of every device, in order."""
        return device_ids(self.devices)


def shipped_scenarios() -> list[tuple[str, str]]:
    """``(name, description)`` of every scenario shipped in ``firmware_sim/scenarios``."""
    return [(s.name, s.description) for s in (load_scenario(n) for n in _shipped_names())]


def _shipped_dir() -> Path:
    return Path(str(resources.files("firmware_sim") / "scenarios"))


def _shipped_names() -> list[str]:
    return sorted(p.stem for p in _shipped_dir().glob("*.toml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A shipped scenario by name (``"mixed"``) or a scenario file by path."""
    text = str(name_or_path)
    shipped = _shipped_dir() / f"{text}.toml"
    if "/" not in text and not text.endswith(".toml") and shipped.is_file():
        path = shipped
    else:
        path = Path(name_or_path)
        if not path.is_file():
            names = ", ".join(_shipped_names())
            raise ScenarioError(text, "", f"no such file or shipped scenario (shipped: {names})")
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(path.name, "", f"invalid TOML: {exc}") from exc
    except OSError as exc:
        raise ScenarioError(path.name, "", f"cannot read: {exc}") from exc
    return parse_scenario(raw, source=path.name, base_dir=path.parent)


def parse_scenario(raw: dict[str, object], *, source: str, base_dir: Path) -> Scenario:
    """Validate a parsed TOML document (relative replay paths are taken from ``base_dir``)."""
    top = Reader(source, dict(raw))
    top.only(_TOP)
    name = top.string("name")
    if not name:
        raise top.fail("name", "missing" if name is None else "must not be empty")
    duration = top.number("duration_s", above=0)
    if duration is None:
        raise top.fail("duration_s", "missing")
    groups = tuple(_group(r, base_dir) for r in top.tables("devices"))
    if not groups:
        raise top.fail("devices", "at least one [[devices]] group is needed")
    scenario = Scenario(
        name=name,
        seed=top.integer("seed", lo=0),
        duration_s=duration,
        devices=groups,
        description=top.string("description", "") or "",
        start_hour=top.number("start_hour", lo=0, below=24, default=8.0) or 0.0,
        source=source,
    )
    ids = {d: k for d, k, _ in device_ids(groups)}
    present = {g.kind for g in groups}
    events, faults = (
        tuple(
            _entry(r, i, section, scenario, ids, present) for i, r in enumerate(top.tables(section))
        )
        for section in ("events", "faults")
    )
    scenario = dataclasses.replace(scenario, events=events, faults=faults)
    schedule(scenario)  # explicit entries that collide are errors too
    return scenario


def device_ids(groups: tuple[DeviceGroup, ...]) -> list[tuple[str, str, int]]:
    """``(device_id, kind, group index)`` of every device: ``{id_prefix or kind}-{index:05d}``."""
    out: list[tuple[str, str, int]] = []
    for gi, g in enumerate(groups):
        prefix, base = g.id_prefix or g.kind, len(out)
        out.extend((f"{prefix}-{base + i:05d}", g.kind, gi) for i in range(g.count))
    return out


def _group(r: Reader, base_dir: Path) -> DeviceGroup:
    kind = r.choice("kind", DEVICE_KINDS)
    if kind is None:
        raise r.fail("kind", "missing")
    r.only(_GROUP + _REPLAY if kind == "replay" else _GROUP)
    count = r.integer("count", lo=1, hi=1_000_000)
    prefix = r.string("id_prefix")
    if prefix is not None and not _ID_PREFIX.fullmatch(prefix):
        raise r.fail("id_prefix", f"1-100 of A-Z a-z 0-9 _ . : -, got {prefix!r}")
    group = DeviceGroup(
        kind=kind,
        count=count,
        rate_hz=r.number("rate_hz", above=0, hi=100_000),
        battery=r.number("battery", lo=0, hi=1, default=1.0) or 0.0,
        network=r.choice("network", tuple(NETWORK_PROFILES), DEFAULT_NETWORK[kind]) or "",
        id_prefix=prefix,
    )
    if kind != "replay":
        return group
    if group.rate_hz is None:
        raise r.fail("rate_hz", "missing (a replay needs the recorded rate)")
    path_text = r.string("path")
    if path_text is None:
        raise r.fail("path", "missing")
    columns = _columns(r)
    path = Path(path_text) if Path(path_text).is_absolute() else base_dir / path_text
    try:
        data = read_replay(path, columns)
    except OSError as exc:
        raise r.fail("path", f"cannot read {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise r.fail("path", str(exc)) from exc
    return DeviceGroup(
        kind=kind,
        count=count,
        rate_hz=group.rate_hz,
        battery=group.battery,
        network=group.network,
        id_prefix=prefix,
        path=path,
        speed=r.number("speed", lo=1, hi=100, default=1.0) or 1.0,
        columns=columns,
        data=data,
    )


def _columns(r: Reader) -> tuple[str | int, ...] | None:
    value = r.table.get("columns")
    if value is None:
        return None
    ok = (
        isinstance(value, list)
        and value
        and all(
            isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool) and v >= 0)
            for v in value
        )
    )
    if not ok:
        raise r.fail("columns", f"must be a list of header names or 0-based indices, got {value!r}")
    return tuple(value)


def _entry(
    r: Reader, index: int, section: str, sc: Scenario, ids: dict[str, str], present: set[str]
) -> InjectionSpec:
    r.only(_ENTRY)
    kinds = EVENT_KINDS if section == "events" else tuple(k for k in KINDS if k not in EVENT_KINDS)
    name = r.string("kind")
    if name is None:
        raise r.fail("kind", "missing")
    if name not in kinds:
        other = "faults" if section == "events" else "events"
        hint = f" ({name!r} belongs in [[{other}]])" if name in KINDS else ""
        raise r.fail("kind", f"must be one of {', '.join(kinds)}, got {name!r}{hint}")
    kind = KINDS[name]
    rate = r.number("rate_per_device_hour", lo=0)
    at = r.number("at_s", lo=0, below=sc.duration_s)
    if (rate is None) == (at is None):
        raise r.fail("", "give exactly one of rate_per_device_hour and at_s")
    if name == "reconnect_storm" and rate is not None:
        raise r.fail("rate_per_device_hour", "a reconnect_storm hits at one instant: give at_s")
    device = r.string("device")
    if device is not None and at is None:
        raise r.fail("device", "needs at_s (a rate applies to every device)")
    if device is not None and device not in ids:
        raise r.fail("device", f"no device {device!r} in this scenario")
    devices = r.strings("devices")
    for dk in devices or ():
        if dk not in present:
            raise r.fail("devices", f"no [[devices]] group of kind {dk!r} in this scenario")
    if device is not None and devices is not None and ids[device] not in devices:
        raise r.fail("device", f"{device!r} is a {ids[device]}, excluded by devices")
    targets = (ids[device],) if device is not None else devices or tuple(sorted(present))
    able = [dk for dk in targets if applies_to(kind, dk)]
    if not able:
        needs = ", ".join(kind.targets)
        raise r.fail("kind", f"no device kind in this scenario has {name!r} (it needs {needs})")
    sensor = _sensor(r, name, able)
    magnitude = r.number("magnitude")
    if magnitude is not None:
        if kind.magnitude is None:
            raise r.fail("magnitude", f"{name!r} takes no magnitude")
        if name == "clock_skew" and magnitude == 0:
            raise r.fail("magnitude", "must not be 0")
        if name == "battery_drain" and magnitude < 1:
            raise r.fail("magnitude", f"must be >= 1, got {magnitude:g}")
        if name != "clock_skew" and magnitude <= 0:
            raise r.fail("magnitude", f"must be > 0, got {magnitude:g}")
    return InjectionSpec(
        section=section,
        index=index,
        kind=name,
        rate_per_device_hour=rate,
        at_s=at,
        device=device,
        duration_s=r.number("duration_s", above=0),
        sensor=sensor,
        devices=devices,
        magnitude=magnitude,
    )


def _sensor(r: Reader, name: str, able: list[str]) -> str | None:
    sensor = r.string("sensor")
    if sensor is None:
        return None
    kind = KINDS[name]
    if kind.category == DEVICE_FAULT:
        raise r.fail("sensor", f"{name!r} is a device fault; it has no sensor")
    if kind.category == EVENT:
        allowed = {kind.targets[dk] for dk in able}
    else:
        allowed = {s for dk in able for s in sensors_of(dk)}
    if sensor not in allowed:
        raise r.fail("sensor", f"must be one of {', '.join(sorted(allowed))}, got {sensor!r}")
    return sensor
