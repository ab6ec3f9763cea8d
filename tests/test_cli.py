"""The ``binhai`` CLI: help texts, TOML config, env vars, one-line errors."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import psycopg
import pytest
from click.testing import CliRunner, Result

from binhai.cli import cli

ROOT = Path(__file__).resolve().parent.parent
BAD_DSN = "postgresql://127.0.0.1:1/nope?connect_timeout=2"
CLEAN_ENV = {
    "BINHAI_DSN": None,
    "BINHAI_CONFIG": None,
    "BINHAI_MQTT_URL": None,
    # no running `up --serve` stack may supply defaults
    "BINHAI_WORKDIR": "/nonexistent/binhai-test-workdir",
}


def all_commands(cmd: click.Command = cli, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    if isinstance(cmd, click.Group):
        for name, sub in sorted(cmd.commands.items()):
            yield from all_commands(sub, (*path, name))


COMMANDS = list(all_commands())
# groups whose help has no example yet (see the report): strict, so a fix shows up


def invoke(args: list[str], **env: str | None) -> Result:
    return CliRunner().invoke(cli, args, env={**CLEAN_ENV, **env}, catch_exceptions=False)


def test_the_command_tree_is_what_we_document() -> None:
    names = {" ".join(p) for p in COMMANDS}
    for expected in ("up", "core serve", "bridge run", "sim run", "db migrate", "db stats"):
        assert expected in names


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "binhai")
def test_every_help_exits_0_and_has_an_example(path: tuple[str, ...]) -> None:
    result = invoke([*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    assert "Example" in result.output


def test_python_m_binhai_help_runs_as_a_real_process() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "binhai", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    for group in ("up", "core", "bridge", "sim", "db"):
        assert group in proc.stdout
    assert "Example" in proc.stdout


def test_version() -> None:
    result = invoke(["--version"])
    assert result.exit_code == 0
    assert result.output.startswith("binhai")


def test_dsn_is_required_without_config_or_env() -> None:
    result = invoke(["db", "stats", "--json"])
    assert result.exit_code == 2
    assert "--dsn" in result.output


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "binhai.toml"
    path.write_text(text)
    return path


def one_line_error(result: Result) -> str:
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    return lines[0]


def test_unknown_key_in_a_command_table_is_a_one_line_error(tmp_path: Path) -> None:
    cfg = write(tmp_path, '[db.stats]\ndsn = "postgresql:///x"\nbogus = 1\n')
    line = one_line_error(invoke(["--config", str(cfg), "db", "stats"]))
    assert "bogus" in line


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('dsm = "postgresql:///x"\n', "dsm"),
        ('[db.stat]\ndsn = "postgresql:///x"\n', "stat"),
        ('[db]\ntenant = "x"\n', "tenant"),
    ],
    ids=["top-level-key", "unknown-table", "key-in-group-table"],
)
def test_unknown_key_anywhere_is_an_error(tmp_path: Path, text: str, key: str) -> None:
    cfg = write(tmp_path, text)
    result = invoke(["--config", str(cfg), "db", "stats"])
    assert "Missing option" not in result.output
    assert key in one_line_error(result)


def test_bad_toml_and_missing_file_are_one_line_errors(tmp_path: Path) -> None:
    cfg = write(tmp_path, "dsn = [\n")
    assert "TOML" in one_line_error(invoke(["--config", str(cfg), "db", "stats"]))
    missing = tmp_path / "nope.toml"
    assert "nope.toml" in one_line_error(invoke(["--config", str(missing), "db", "stats"]))


def test_config_sets_an_option_of_a_command(tmp_path: Path) -> None:
    # `bridge run --help` shows defaults; a config value must replace the built-in default
    cfg = write(tmp_path, '[bridge.run]\nmqtt_url = "mqtt://fromconfig:1999"\n')
    result = invoke(["--config", str(cfg), "bridge", "run", "--help"])
    assert result.exit_code == 0
    assert "default: mqtt://fromconfig:1999]" in " ".join(result.output.split())


@pytest.fixture(scope="module")
def migrated(pg_dsn: str) -> str:
    from cloud_core import migrate

    asyncio.run(migrate(pg_dsn))
    return pg_dsn


@pytest.fixture
def two_devices(migrated: str, unique_tenant: str) -> str:
    with psycopg.connect(migrated, autocommit=True) as conn:
        for dev in ("d-1", "d-2"):
            conn.execute(
                "INSERT INTO devices (tenant, device_id) VALUES (%s, %s)", (unique_tenant, dev)
            )
    return unique_tenant


def stats_json(result: Result) -> dict[str, int]:
    assert result.exit_code == 0, result.output
    data = json.loads(result.output.strip().splitlines()[-1])
    assert isinstance(data, dict)
    return data


@pytest.mark.db
def test_toml_top_level_dsn_reaches_db_stats(
    tmp_path: Path, migrated: str, two_devices: str
) -> None:
    cfg = write(tmp_path, f'dsn = "{migrated}"\n')
    data = stats_json(
        invoke(["--config", str(cfg), "db", "stats", "--json", "--tenant", two_devices])
    )
    assert data["devices"] == 2
    assert data["batches"] == 0 and data["gaps_unexplained"] == 0


@pytest.mark.db
def test_toml_command_table_and_env_config_file(
    tmp_path: Path, migrated: str, two_devices: str
) -> None:
    cfg = write(tmp_path, f'[db.stats]\ndsn = "{migrated}"\ntenant = "{two_devices}"\n')
    assert stats_json(invoke(["--config", str(cfg), "db", "stats", "--json"]))["devices"] == 2
    # BINHAI_CONFIG names the file too
    got = stats_json(invoke(["db", "stats", "--json"], BINHAI_CONFIG=str(cfg)))
    assert got["devices"] == 2


@pytest.mark.db
def test_env_dsn_works_and_precedence_is_cli_env_config(
    tmp_path: Path, migrated: str, two_devices: str
) -> None:
    args = ["db", "stats", "--json", "--tenant", two_devices]
    assert stats_json(invoke(args, BINHAI_DSN=migrated))["devices"] == 2
    bad_cfg = write(tmp_path, f'dsn = "{BAD_DSN}"\n')
    # env beats the config file
    assert (
        stats_json(invoke(["--config", str(bad_cfg), *args], BINHAI_DSN=migrated))["devices"] == 2
    )
    # the command line beats both
    result = invoke(["--config", str(bad_cfg), *args, "--dsn", migrated], BINHAI_DSN=BAD_DSN)
    assert stats_json(result)["devices"] == 2


@pytest.mark.db
def test_db_migrate_via_env_is_idempotent(migrated: str) -> None:
    result = invoke(["db", "migrate"], BINHAI_DSN=migrated)
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output


def run_binhai(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    return subprocess.run(
        [sys.executable, "-m", "binhai", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
        check=False,
    )


def test_unreachable_database_is_one_line_on_stderr_and_non_zero() -> None:
    proc = run_binhai("db", "stats", "--json", "--dsn", BAD_DSN)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error:")


def test_unreachable_database_fails_without_traceback() -> None:
    proc = run_binhai("db", "stats", "--json", "--dsn", BAD_DSN)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error:")
    assert proc.stdout == ""


def test_config_error_from_a_real_process(tmp_path: Path) -> None:
    cfg = write(tmp_path, "[db.stats]\nbogus = 1\n")
    proc = run_binhai("--config", str(cfg), "db", "stats")
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "bogus" in proc.stderr
