"""A real Prometheus with ``deploy/prometheus.yml`` scrapes every documented metric of a served
stack, with the value the documentation calls healthy (docs/operations.md, "Prometheus")."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote
from urllib.request import urlopen

import pytest

from binhai._embedded import free_port
from binhai._statefile import StackState
from tests.served import ROOT, Served

pytestmark = [pytest.mark.slow, pytest.mark.db, pytest.mark.broker]

CONFIG = ROOT / "deploy" / "prometheus.yml"
DOC = ROOT / "docs" / "operations.md"
_ROW = re.compile(r"^\| `(binhai_\w+)` \| (\w+) \|\s*(\w*)\s*\| [^|]+ \| ([<>=]+ \d+) \|$")
_CHECKS = {
    "> 0": lambda v: v > 0,
    ">= 0": lambda v: v >= 0,
    ">= 1": lambda v: v >= 1,
    "= 1": lambda v: v == 1,
}


def documented() -> list[tuple[str, str, str, str]]:
    """(name, type, labels, healthy) of every metric in the documentation's table."""
    rows = [m.groups() for line in DOC.read_text().splitlines() if (m := _ROW.match(line))]
    assert len(rows) > 30, "the metric table of docs/operations.md did not parse"
    return [(n, t, lab, h) for n, t, lab, h in rows]


def api(base: str, path: str) -> Any:
    with urlopen(f"{base}/api/v1/{path}", timeout=10) as resp:
        body = json.loads(resp.read())
    assert body["status"] == "success", body
    return body["data"]


@pytest.fixture(scope="module")
def prometheus(
    served_fleet: tuple[Served, StackState], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Prometheus on deploy/prometheus.yml, its targets pointed at the served stack, scraping
    every second; yields its base URL once both targets are up."""
    exe = shutil.which("prometheus")
    if exe is None:
        pytest.fail("prometheus is not installed: apt-get install -y prometheus (README, set-up)")
    _, state = served_fleet
    tmp = tmp_path_factory.mktemp("prometheus")
    core = state.metrics["core-0"].split("//")[1].split("/")[0]
    bridge = state.metrics["bridge-0"].split("//")[1].split("/")[0]
    text = CONFIG.read_text()
    for default, actual in (("127.0.0.1:9464", core), ("127.0.0.1:9465", bridge)):
        assert f'"{default}"' in text
        text = text.replace(f'"{default}"', f'"{actual}"')
    text = text.replace("scrape_interval: 15s", "scrape_interval: 1s")
    text = text.replace("scrape_timeout: 5s", "scrape_timeout: 1s")
    (tmp / "prometheus.yml").write_text(text)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (tmp / "prometheus.log").open("wb") as log:
        proc = subprocess.Popen(
            [exe, f"--config.file={tmp / 'prometheus.yml'}",
             f"--storage.tsdb.path={tmp / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp / "prometheus.log").read_text()
            assert time.monotonic() < deadline, (tmp / "prometheus.log").read_text()[-3000:]
            try:
                targets = api(base, "targets")["activeTargets"]
            except OSError:
                targets = []
            if len(targets) == 2 and all(t["health"] == "up" for t in targets):
                break
            time.sleep(0.5)
        time.sleep(2.5)  # a few scrapes, so rates and every family are in
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def test_both_jobs_are_up(prometheus: str) -> None:
    result = api(prometheus, "query?query=" + quote("up"))["result"]
    jobs = {r["metric"]["job"]: float(r["value"][1]) for r in result}
    assert jobs == {"binhai-core": 1.0, "binhai-bridge": 1.0}


def test_every_documented_metric_is_scraped_with_a_healthy_value(prometheus: str) -> None:
    metadata = api(prometheus, "metadata")
    problems = []
    for name, kind, labels, healthy in documented():
        if name not in metadata:
            problems.append(f"{name}: not scraped")
            continue
        if metadata[name][0]["type"] != kind:
            problems.append(f"{name}: type {metadata[name][0]['type']}, documented {kind}")
        series = f"{name}_count" if kind == "histogram" else name
        result = api(prometheus, "query?query=" + quote(series))["result"]
        if not result:
            if labels and healthy == ">= 0":
                continue  # a labelled family with nothing counted yet: known by its TYPE line
            problems.append(f"{name}: no samples")
            continue
        for r in result:
            value = float(r["value"][1])
            if not _CHECKS[healthy](value):
                problems.append(f"{name}{r['metric']}: {value}, healthy is {healthy}")
    assert not problems, "\n".join(problems)


def test_the_documented_metrics_are_all_there_are(prometheus: str) -> None:
    """A new metric must be documented (and so checked) too."""
    names = {n for n, *_ in documented()}
    scraped = {n for n in api(prometheus, "metadata") if n.startswith("binhai_")}
    assert scraped == names


def test_the_config_passes_promtool() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed: apt-get install -y prometheus")
    done = subprocess.run(
        [promtool, "check", "config", str(CONFIG)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
