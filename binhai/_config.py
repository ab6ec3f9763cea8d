"""Configuration files for the CLI: a TOML file becomes click's ``default_map``.

Precedence, highest first: command-line option, environment variable, config file, default.
Top-level keys apply to every command that has an option of that name; a table named after a
command path (``[core.serve]``, ``[bridge.run]``) applies to that command only::

    dsn = "postgresql://127.0.0.1/binhai"
    mqtt_url = "mqtt://127.0.0.1:1883"

    [bridge.run]
    max_inflight = 2000
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class ConfigError(click.ClickException):
    """The config file is missing, unreadable or names an unknown option."""


def load_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"bad TOML in {path}: {exc}") from exc


def _option_names(cmd: click.Command) -> set[str]:
    if isinstance(cmd, click.Group):
        return set().union(*(_option_names(c) for c in cmd.commands.values()))
    return {p.name for p in cmd.params if p.name}


def default_map(root: click.Command, data: dict[str, Any]) -> dict[str, Any]:
    """Build click's nested ``default_map`` for ``root`` from config ``data``.

    Every key must mean something: a top-level key must be an option of some command, a table
    must name a group or command, and a key in a command's table must be one of its options.
    """
    scalars = {k.replace("-", "_"): v for k, v in data.items() if not isinstance(v, dict)}
    unknown = set(scalars) - _option_names(root)
    if unknown:
        raise ConfigError(f"unknown top-level config key(s): {', '.join(sorted(unknown))}")

    def walk(cmd: click.Command, section: dict[str, Any], path: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if isinstance(cmd, click.Group):
            for name, value in section.items():
                if path and not isinstance(value, dict):
                    raise ConfigError(f"config key {path}{name}: options go in a command's table")
                if isinstance(value, dict) and name not in cmd.commands:
                    raise ConfigError(f"config table [{path}{name}] names no command")
            for name, sub in cmd.commands.items():
                # A top-level scalar may share a group's name (``token = "..."``, ``[token]``).
                table = section.get(name)
                child = walk(sub, table if isinstance(table, dict) else {}, f"{path}{name}.")
                if child:
                    out[name] = child
            return out
        names = {p.name for p in cmd.params if p.name}
        for key, value in section.items():
            key = key.replace("-", "_")
            if key not in names:
                raise ConfigError(f"unknown option {key!r} in config table [{path.rstrip('.')}]")
            out[key] = value
        for key, value in scalars.items():
            if key in names:
                out.setdefault(key, value)
        return out

    return walk(root, data, "")
