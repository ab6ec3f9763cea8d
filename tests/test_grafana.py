"""deploy/grafana: every dashboard query runs against the real schema of a served stack and the
main panels show its simulated fleet's data.

Grafana's macros are expanded the way Grafana does for PostgreSQL (``$__timeFilter(col)`` to a
BETWEEN of two timestamps, ``${var}`` to the variable's value, All being ``%``); a query using
any other macro fails here, so the dashboards use only what is tested.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest

from binhai._statefile import StackState
from tests.served import ROOT, Served

GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
_TIME_FILTER = re.compile(r"\$__timeFilter\((\w+)\)")


def load(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    assert isinstance(data, dict)
    return data


def expand(sql: str, values: dict[str, str], start: datetime, end: datetime) -> str:
    sql = _TIME_FILTER.sub(
        lambda m: f"{m.group(1)} BETWEEN '{start.isoformat()}' AND '{end.isoformat()}'", sql
    )
    for name, value in values.items():
        sql = sql.replace(f"${{{name}}}", value)
    assert "$" not in sql, f"an untested macro or variable in:\n{sql}"
    return sql


def queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["title"], t["rawSql"]) for p in dashboard["panels"] for t in p["targets"]]


def test_provisioning_names_the_data_source_every_panel_uses() -> None:
    assert {p.stem for p in DASHBOARDS} == {"fleet", "device", "ingest"}
    source = (GRAFANA / "provisioning" / "datasources" / "binhai.yml").read_text()
    uid = re.search(r"^\s+uid: (\S+)$", source, re.M)
    assert uid is not None
    provider = (GRAFANA / "provisioning" / "dashboards" / "binhai.yml").read_text()
    assert "path: /var/lib/grafana/dashboards/binhai" in provider
    uids = set()
    for path in DASHBOARDS:
        d = load(path)
        uids.add(d["uid"])
        ids = [p["id"] for p in d["panels"]]
        assert len(ids) == len(set(ids)), path
        for p in d["panels"]:
            assert p["datasource"]["uid"] == uid.group(1), (path, p["title"])
            assert p["targets"] and all(t["rawSql"].strip() for t in p["targets"])
        for v in d["templating"]["list"]:
            assert v["datasource"]["uid"] == uid.group(1)
    assert len(uids) == len(DASHBOARDS)


def wait_for_rollups(dsn: str) -> None:
    """The core's maintenance refreshes the rollups every 10 s: wait for the fleet's first."""
    deadline = time.monotonic() + 60
    while True:
        with psycopg.connect(dsn) as conn:
            row = conn.execute("SELECT count(*) FROM rollup_1m WHERE tenant = 'demo'").fetchone()
        if row is not None and row[0] > 0:
            return
        assert time.monotonic() < deadline, "no rollups after 60 s"
        time.sleep(1)


@pytest.mark.slow
@pytest.mark.db
@pytest.mark.broker
@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_query_runs_on_the_real_schema_and_shows_the_fleet(
    path: Path, served_fleet: tuple[Served, StackState]
) -> None:
    _, state = served_fleet
    wait_for_rollups(state.dsn)
    dashboard = load(path)
    end = datetime.now(timezone.utc) + timedelta(minutes=1)
    start = end - timedelta(hours=1)
    rows: dict[str, list[tuple[Any, ...]]] = {}
    with psycopg.connect(state.dsn, autocommit=True) as conn:
        for tenant in ("%", "demo"):  # "All", then one tenant
            values = {"tenant": tenant}
            # variables in order, each query with the values chosen before it (as Grafana does)
            for var in dashboard["templating"]["list"]:
                found = conn.execute(expand(var["query"], values, start, end)).fetchall()
                assert found, f"variable {var['name']} has no values"
                if var["name"] == "tenant":
                    assert ("demo",) in found
                    continue
                values[var["name"]] = str(found[0][0])
            for title, sql in queries(dashboard):
                rows[title] = conn.execute(expand(sql, values, start, end)).fetchall()
    assert len(rows) == len(dashboard["panels"])
    shown = {
        "fleet": ("Devices online", "Windows per minute (rollups)", "Devices"),
        "device": (
            "RMS (channel 0)",
            "Windows and highest novelty per minute",
            "Battery and outbox",
        ),
        "ingest": ("Batches and windows stored per minute", "Delivery delay (received - sent)"),
    }[path.stem]
    for title in shown:
        assert rows[title], f"{path.stem}: panel {title!r} shows nothing"
    if path.stem == "fleet":
        online, total = rows["Devices online"][0]
        assert online >= 2 and total >= 2
    if path.stem == "device":
        assert all(r[1] is not None and r[1] > 0 for r in rows["RMS (channel 0)"])
