"""``binhai device list|show|command`` against a served stack with a simulated fleet."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from binhai._stack import Stack
from binhai._statefile import StackState
from binhai.cli import cli
from tests.served import Served

pytestmark = [pytest.mark.slow, pytest.mark.db, pytest.mark.broker]


@pytest.fixture
def fleet(served_fleet: tuple[Served, StackState]) -> tuple[Served, StackState]:
    return served_fleet


def test_list_shows_each_device_with_health_and_gaps(fleet: tuple[Served, StackState]) -> None:
    served, _ = fleet
    rows = served.cli_json("device", "list", "--tenant", "demo")["devices"]
    assert [r["device_id"] for r in rows] == ["dev-00000", "dev-00001"]
    for r in rows:
        assert r["online"] is True
        assert r["firmware"] == "firmware_sim"
        assert r["battery"] is None  # the simulated wearables report no battery (-1)
        assert r["outbox_depth"] >= 0
        assert r["gaps_unexplained"] == 0
        assert r["policy"] in ("none", "pending", "acked")
        assert time.time() - r["last_seen_ns"] / 1e9 < 60
    # `query` reaches the core through the state file, as `device` reaches the database
    fleet = served.cli_json("query", "fleet", "--tenant", "demo")
    assert int(fleet["devices_total"]) == 2
    table = served.cli("device", "list")
    assert table.returncode == 0 and "dev-00001" in table.stdout and "firmware_sim" in table.stdout


def test_flush_is_acked_and_shows_up_in_show(fleet: tuple[Served, StackState]) -> None:
    served, _ = fleet
    # no --tenant: the only tenant with this device is found
    result = served.cli_json("device", "command", "dev-00000", "flush", "--timeout", "45")
    assert result["status"] == "ack", result
    assert result["tenant"] == "demo"
    shown = served.cli_json("device", "show", "dev-00000")
    assert shown["online"] is True and shown["health"]["firmware"] == "firmware_sim"
    latest = shown["recent_commands"][0]
    assert latest["id"] == result["id"] and latest["status"] == "ack"
    text = served.cli("device", "command", "dev-00001", "reset-counters", "--timeout", "45")
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith("ACK from demo/dev-00001 reset-counters")


def test_a_refused_command_shows_the_nack_and_exits_1(fleet: tuple[Served, StackState]) -> None:
    served, _ = fleet
    done = served.cli(
        "device", "command", "dev-00001", "send-raw", "--sensor", "no-such-sensor",
        "--timeout", "45", "--json",
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert '"status": "nack"' in done.stdout
    assert "unknown sensor 'no-such-sensor'" in done.stdout


def test_an_offline_device_gets_it_queued(fleet: tuple[Served, StackState]) -> None:
    served, state = fleet
    with psycopg.connect(state.dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO devices (tenant, device_id, online, last_seen)"
            " VALUES ('other', 'gone-1', false, now() - interval '1 hour')"
        )
    done = served.cli("device", "command", "gone-1", "flush")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("queued, device offline: other/gone-1 flush")


def test_unknown_device_and_bad_range_are_one_line_errors(
    fleet: tuple[Served, StackState], tmp_path: Path
) -> None:
    served, _ = fleet
    for args in (
        ("device", "show", "nobody"),
        ("device", "command", "nobody", "flush"),
        ("device", "command", "dev-00000", "send-raw", "--start", "now", "--end", "-1h"),
    ):
        done = served.cli(*args)
        assert done.returncode != 0
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 or "Usage:" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


def test_no_answer_within_the_timeout_exits_1(fleet: tuple[Served, StackState]) -> None:
    served, state = fleet
    with psycopg.connect(state.dsn, autocommit=True) as conn:
        # online by the database's account, but nothing runs behind it
        conn.execute(
            "INSERT INTO devices (tenant, device_id, online, last_seen)"
            " VALUES ('ghost', 'ghost-1', true, now())"
        )
    done = served.cli("device", "command", "ghost-1", "flush", "--timeout", "2", "--json")
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["status"] == "no_answer" and result["seconds"] >= 2


def test_without_a_bridge_the_command_is_stored_not_delivered(
    stack: Callable[..., Stack], migrated_dsn: str, unique_tenant: str
) -> None:
    s = stack(bridges=0)
    with psycopg.connect(migrated_dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO devices (tenant, device_id, online) VALUES (%s, 'lonely', true)",
            (unique_tenant,),
        )
    result = CliRunner().invoke(
        cli,
        ["device", "command", "lonely", "flush", "--tenant", unique_tenant, "--json",
         "--dsn", migrated_dsn, "--core-addr", s.core_addrs[0]],
        env={"BINHAI_WORKDIR": "/nonexistent/binhai-device"},
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    assert out["status"] == "undelivered" and "no bridge" in out["reason"]
