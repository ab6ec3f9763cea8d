"""The core's live dashboard against a served stack: its JSON API, and its pages in a real
headless Chromium (Debian's ``chromium``) — they load with no console errors and plot the stored
data. Screenshots are kept in ``$BINHAI_TEST_ARTIFACTS`` (default ``test-artifacts/``)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import urlopen

import psycopg
import pytest

import protos
from binhai._rawpub import publish_qos1
from binhai._statefile import StackState
from tests.fix_stack import build_batch
from tests.served import ROOT, Served

pytestmark = [pytest.mark.slow, pytest.mark.db, pytest.mark.broker]

TENANT, DEVICE = "t-dashboard", "cam-1"
ARTIFACTS = Path(os.environ.get("BINHAI_TEST_ARTIFACTS", ROOT / "test-artifacts"))


@pytest.fixture(scope="module")
def site(served_fleet: tuple[Served, StackState]) -> str:
    """The dashboard's base URL, once a device with two raw windows and an alert is stored next
    to the simulated fleet."""
    _, state = served_fleet
    url = protos.MqttUrl.parse(state.mqtt_url)
    batch = build_batch(TENANT, DEVICE, 1, windows=2, raw=True, t0_ns=time.time_ns() - 10**9)
    topic = protos.topic_for(TENANT, DEVICE, "up")
    publish_qos1(url.host, url.port, [(topic, batch.SerializeToString())], v5=url.v5)
    deadline = time.monotonic() + 30
    while True:
        with psycopg.connect(state.dsn) as conn:
            row = conn.execute(
                "SELECT count(*) FROM windows WHERE tenant = %s AND raw IS NOT NULL", (TENANT,)
            ).fetchone()
        if row is not None and row[0] == 2:
            break
        assert time.monotonic() < deadline, "raw batch not stored"
        time.sleep(0.2)
    with psycopg.connect(state.dsn, autocommit=True) as conn:  # an alert, as the judge raises
        now = time.time_ns()
        conn.execute(
            "INSERT INTO alerts (tenant, device_id, sensor, kind, kinds, start_ns, end_ns, score,"
            " windows, raw_windows) VALUES (%s, %s, 'accel', 'tremor', '{\"tremor\": 2}',"
            " %s, %s, 7.5, 2, 1)",
            (TENANT, DEVICE, now - 5 * 10**9, now),
        )
    return state.dashboard.rstrip("/")


def get(url: str) -> Any:
    with urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def status_of(url: str) -> int:
    try:
        with urlopen(url, timeout=10) as resp:
            return int(resp.status)
    except HTTPError as exc:
        return exc.code


def test_api_answers_with_the_stored_data(site: str) -> None:
    fleet = get(f"{site}/api/fleet")
    ids = {(d["tenant"], d["device_id"]) for d in fleet["devices"]}
    assert {("demo", "dev-00000"), ("demo", "dev-00001"), (TENANT, DEVICE)} <= ids
    assert fleet["summary"]["devices_online"] >= 2
    assert sum(fleet["ingest"]["batches"]) > 0
    q = urlencode({"tenant": TENANT, "device": DEVICE})
    device = get(f"{site}/api/device?{q}")
    assert device["sensors"] == ["accel"] and device["detail"]["batches"] == 1
    raw = get(f"{site}/api/raw?{q}&sensor=accel")["window"]
    assert raw["n_samples"] == 64 and len(raw["samples"]) == 64
    series = get(f"{site}/api/series?{q}&sensor=accel&feature=rms")
    assert len(series["t_ns"]) == 2 and all(v > 0 for v in series["values"])


def test_api_errors_are_json_with_a_status(site: str) -> None:
    assert status_of(f"{site}/api/device?tenant=x") == 400
    assert status_of(f"{site}/api/device?tenant=x&device=nobody") == 404
    assert status_of(f"{site}/api/series?tenant=a&device=b&sensor=c&feature=bogus") == 400
    assert status_of(f"{site}/nowhere") == 404
    assert status_of(f"{site}/static/../_api.py") == 404
    assert status_of(f"{site}/static/vendor/uplot/uPlot.iife.min.js") == 200


def chromium(url: str, name: str) -> tuple[str, str]:
    """Load ``url`` in headless Chromium: (the DOM after scripts ran, Chromium's log)."""
    exe = shutil.which("chromium")
    if exe is None:
        pytest.fail("chromium is not installed: apt-get install -y chromium (README, set-up)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    flags = [
        exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--hide-scrollbars", "--window-size=1280,1200", "--virtual-time-budget=10000",
        "--enable-logging=stderr", "--v=0",
    ]  # fmt: skip
    dom = subprocess.run(
        [*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True
    )
    subprocess.run(
        [*flags, f"--screenshot={ARTIFACTS / name}.png", url],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert (ARTIFACTS / f"{name}.png").stat().st_size > 10_000
    return dom.stdout, dom.stderr


def loaded_cleanly(dom: str, log: str) -> dict[str, str]:
    body = re.search(r"<body([^>]*)>", dom)
    assert body is not None, dom[:500]
    attrs = dict(re.findall(r'data-(\w+)="([^"]*)"', body.group(1)))
    assert attrs.get("ready") == "1", dom[:2000]
    assert "errors" not in attrs, re.search(r'id="status"[^<]*<', dom)
    console = [line for line in log.splitlines() if "CONSOLE" in line]
    assert not console, "\n".join(console)
    return attrs


def points(dom: str, element: str) -> int:
    found = re.search(rf'id="{element}"[^>]*data-points="(\d+)"', dom) or re.search(
        rf'data-points="(\d+)"[^>]*id="{element}"', dom
    )
    assert found is not None, f"{element} has no plot"
    return int(found.group(1))


def test_fleet_page_shows_the_fleet_live(site: str) -> None:
    dom, log = chromium(f"{site}/", "dashboard-fleet")
    attrs = loaded_cleanly(dom, log)
    assert int(attrs["updates"]) >= 3  # it polled again and again within the 10 s loaded
    for dev in ("dev-00000", "dev-00001", DEVICE):
        assert f">{dev}</a>" in dom
    assert points(dom, "ingest-chart") >= 1
    assert "<td>tremor</td>" in dom and "<td>7.50</td>" in dom  # the alert
    assert "uplot" in dom  # uPlot drew the chart


def test_device_page_plots_features_and_the_raw_window(site: str) -> None:
    q = urlencode({"tenant": TENANT, "device": DEVICE})
    dom, log = chromium(f"{site}/device?{q}", "dashboard-device")
    loaded_cleanly(dom, log)
    assert points(dom, "series-chart") == 2  # the two stored windows
    assert points(dom, "raw-chart") == 64  # the decoded samples of the latest raw window
    assert "1 channel(s) × 64 samples at 50 Hz" in dom
    assert "<td>tremor</td>" in dom


def test_device_page_of_a_simulated_device(site: str) -> None:
    dom, log = chromium(f"{site}/device?tenant=demo&device=dev-00000", "dashboard-sim-device")
    loaded_cleanly(dom, log)
    assert points(dom, "series-chart") > 0
    assert "firmware_sim" in dom
