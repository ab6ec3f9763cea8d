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


def default_map(root: click.Command, data: dict[str, Any]) -> dict[str, Any]:
    """Build click's nested ``default_map`` for ``root`` from config ``data``."""
    scalars = {k.replace("-", "_"): v for k, v in data.items() if not isinstance(v, dict)}

    def walk(cmd: click.Command, section: dict[str, Any], path: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                sub_section = section.get(name, {})
                if not isinstance(sub_section, dict):
                    raise ConfigError(f"config key {path}{name} must be a table")
                child = walk(sub, sub_section, f"{path}{name}.")
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
