"""``binhai doctor``: a healthy served stack passes; each broken part fails with its fix."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner, Result

from binhai._doctor import check_mosquitto_conf, parse_mosquitto_conf
from binhai._statefile import StackState
from binhai.cli import cli
from tests.served import Served

NOWHERE = {"BINHAI_WORKDIR": "/nonexistent/binhai-doctor", "BINHAI_DSN": None}


def doctor(*args: str) -> tuple[Result, dict[str, dict[str, str]]]:
    result = CliRunner().invoke(cli, ["doctor", *args, "--json"], env=NOWHERE)
    data = json.loads(result.output.strip().splitlines()[-1])
    return result, {c["name"]: c for c in data["checks"]}


@pytest.mark.slow
@pytest.mark.db
@pytest.mark.broker
def test_a_served_stack_is_healthy(served_fleet: tuple[Served, StackState]) -> None:
    served, state = served_fleet
    done = served.cli("doctor", "--json", "--strict")
    assert done.returncode == 0, done.stdout + done.stderr
    checks = {c["name"]: c for c in json.loads(done.stdout.splitlines()[-1])["checks"]}
    for name in ("broker", "broker persistence", "broker autosave", "broker queue limit"):
        assert checks[name]["status"] == "ok", checks[name]
    assert checks["migrations"]["status"] == "ok"
    assert checks["timescaledb"]["status"] in ("ok", "info")
    assert checks[f"core {state.core_addr}"]["detail"] == "SERVING"
    assert "1 bridge(s) connected" in checks["core-0 metrics"]["detail"]
    assert "connected to the broker and 1 core(s)" in checks["bridge-0 metrics"]["detail"]
    assert checks["device clocks"]["status"] == "ok"
    assert (
        checks["dashboard"]["status"] == "ok" and state.dashboard in checks["dashboard"]["detail"]
    )
    text = served.cli("doctor")
    assert text.returncode == 0 and text.stdout.rstrip().endswith("all good")


@pytest.mark.db
def test_everything_broken_fails_with_a_fix_each(private_dsn: str, tmp_path: Path) -> None:
    conf = tmp_path / "mosquitto.conf"
    conf.write_text("listener 1883\npersistence false\nmax_queued_messages 100\n")
    result, checks = doctor(
        "--dsn", private_dsn,  # exists, never migrated
        "--mqtt-url", "mqtt://127.0.0.1:1",
        "--core-addr", "127.0.0.1:1",
        "--metrics", "http://127.0.0.1:1/metrics",
        "--dashboard", "http://127.0.0.1:1/",
        "--mosquitto-conf", str(conf),
    )  # fmt: skip
    assert result.exit_code == 1
    for name in ("broker", "broker persistence", "migrations", "core 127.0.0.1:1"):
        assert checks[name]["status"] == "fail", checks[name]
        assert checks[name]["fix"]
    assert checks["broker queue limit"]["status"] == "warn"
    assert checks["http://127.0.0.1:1/metrics metrics"]["status"] == "fail"
    assert checks["dashboard"]["status"] == "fail"
    assert "binhai db migrate" in checks["migrations"]["fix"]


@pytest.mark.db
def test_an_unreachable_database_is_one_failed_check() -> None:
    result, checks = doctor(
        "--dsn", "postgresql://127.0.0.1:1/nope?connect_timeout=2",
        "--mqtt-url", "mqtt://127.0.0.1:1", "--core-addr", "127.0.0.1:1",
    )  # fmt: skip
    assert result.exit_code == 1
    assert checks["database"]["status"] == "fail"
    assert "migrations" not in checks


@pytest.mark.db
def test_clock_skew_is_read_from_stored_batches(private_dsn: str) -> None:
    from cloud_core import migrate

    asyncio.run(migrate(private_dsn))
    with psycopg.connect(private_dsn, autocommit=True) as conn:
        for dev, offset in (("fine", "0 seconds"), ("ahead", "-90 seconds")):
            for seq in (1, 2):
                conn.execute(
                    "INSERT INTO batches (tenant, device_id, seq, sent_at, n_windows, n_samples,"
                    " payload_bytes, n_summarized) VALUES ('t', %s, %s,"
                    " now() - %s::interval - interval '50 ms', 1, 64, 100, 0)",
                    (dev, seq, offset),
                )
    _, checks = doctor(
        "--dsn", private_dsn, "--mqtt-url", "mqtt://127.0.0.1:1", "--core-addr", "127.0.0.1:1"
    )
    skew = checks["device clocks"]
    assert skew["status"] == "warn"
    assert "1 of 2 devices" in skew["detail"] and "t/ahead: 90.0 s ahead" in skew["detail"]


def test_mosquitto_conf_follows_include_dir_and_uses_defaults(tmp_path: Path) -> None:
    inc = tmp_path / "conf.d"
    inc.mkdir()
    (inc / "b.conf").write_text("persistence true\n# comment\nautosave_interval 10\n")
    main = tmp_path / "mosquitto.conf"
    main.write_text(f"persistence false\ninclude_dir {inc}\n")
    assert parse_mosquitto_conf(main)["persistence"] == "true"
    checks = {c.name: c for c in check_mosquitto_conf(main)}
    assert checks["broker persistence"].status == "ok"
    assert checks["broker autosave"].status == "ok"
    # not set anywhere: mosquitto's default of 1000 queued messages per client
    assert checks["broker queue limit"].status == "warn"
    assert check_mosquitto_conf(None)[0].status == "skip"
