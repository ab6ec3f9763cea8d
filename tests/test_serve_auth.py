"""``binhai up --serve`` with authentication on (its default with mosquitto): a provisioned
fleet and example device, credentials in 0600 files the state file points to (no secret in it
or in the output), reused by a restart so earlier devices still connect."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

import protos
from binhai._embedded import find_mosquitto, probe_mqtt
from binhai._statefile import StackState
from tests.served import Served, served_workdir

pytestmark = [
    pytest.mark.slow,
    pytest.mark.db,
    pytest.mark.broker,
    pytest.mark.skipif(find_mosquitto() is None, reason="mosquitto not installed"),
]

DEVICES = 2


def batches(dsn: str, tenant: str, device_id: str | None = None) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM batches WHERE tenant = %(t)s"
            " AND (%(d)s::text IS NULL OR device_id = %(d)s)",
            {"t": tenant, "d": device_id},
        ).fetchone()
    return int(row[0]) if row else 0


def wait_for(what: str, ok: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not (ok() if callable(ok) else ok):
        assert time.monotonic() < deadline, what
        time.sleep(0.5)


def secrets_of(state: StackState) -> list[str]:
    out = [Path(state.token_file).read_text().strip()]
    for path in state.credentials.values():
        out += [d["password"] for d in json.loads(Path(path).read_text())["devices"].values()]
    bridge = json.loads((Path(state.data_dir) / "security" / "stack" / "bridge.json").read_text())
    return [*out, bridge["mqtt_password"], bridge["token"]]


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, StackState]]:
    with served_workdir(tmp_path_factory.mktemp("served-auth")) as workdir:
        served = Served(workdir)
        try:
            state = served.start("--devices", str(DEVICES))
            wait_for(
                "the fleet stored nothing:\n" + served.output,
                lambda: batches(state.dsn, "demo") > 0,
            )
            yield served, state
        finally:
            served.stop()


def test_the_state_names_credential_files_and_no_secret(
    secure: tuple[Served, StackState],
) -> None:
    served, state = secure
    assert state.auth and state.data_dir and state.token_file
    assert set(state.credentials) == {"mine", "demo"}
    for path in (state.token_file, *state.credentials.values()):
        assert Path(path).stat().st_mode & 0o777 == 0o600, path
    listing = (Path(state.workdir) / "stack.json").read_text() + served.output
    for secret in secrets_of(state):
        assert secret not in listing
    url = protos.MqttUrl.parse(state.mqtt_url)
    assert not probe_mqtt(url.host, url.port)  # anonymous refused
    assert probe_mqtt(url.host, url.port, accept_refused=True)


def test_commands_find_the_operator_token_by_themselves(
    secure: tuple[Served, StackState],
) -> None:
    served, state = secure
    rows = served.cli_json("device", "list", "--tenant", "demo")["devices"]
    assert len(rows) == DEVICES
    ack = served.cli_json("device", "command", "dev-00000", "flush", "--timeout", "45")
    assert ack["status"] == "ack", ack
    policy = served.cli_json("policy", "show", "--tenant", "demo")
    assert policy["fields"]["novelty_threshold"]["source"] == "default"
    assert int(served.cli_json("query", "fleet", "--tenant", "demo")["devices_total"]) == DEVICES
    doctor = served.cli_json("doctor", "--strict")
    auth = [c for c in doctor["checks"] if c["name"].endswith(" auth")]
    assert doctor["status"] == "ok" and [c["status"] for c in auth] == ["ok"], doctor
    # a token given wins over the stack's, and a wrong one is refused with a hint
    bad = served.cli("query", "fleet", "--token", "bh_00000000_nope")
    assert bad.returncode == 1 and "UNAUTHENTICATED" in bad.stderr and "--token" in bad.stderr
    # and the core itself refuses a call without a token
    assert asyncio_code(state.core_addr) == "UNAUTHENTICATED"


def asyncio_code(addr: str) -> str:
    import asyncio

    import grpc

    async def call() -> str:
        async with protos.core_channel(addr) as channel:
            try:
                await protos.query_pb2_grpc.QueryStub(channel).Stats(
                    protos.StatsRequest(), timeout=10
                )
            except grpc.aio.AioRpcError as exc:
                return str(exc.code().name)
        return "OK"

    return asyncio.run(call())


def digest(state: StackState) -> dict[str, str]:
    stack = Path(state.data_dir) / "security"
    files = [*sorted((stack / "stack").iterdir()), stack / "tokens.json", stack / "identities.json"]
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def test_the_example_logs_in_and_a_restart_reuses_every_credential(
    secure: tuple[Served, StackState], tmp_path: Path
) -> None:
    served, state = secure
    script = Path(state.workdir) / "example_device.py"
    assert state.credentials["mine"] in script.read_text()
    assert len(script.read_text().splitlines()) <= 15
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for("the example stored nothing", lambda: batches(state.dsn, "mine", "my-board") > 0)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err
    assert out.splitlines()[-1] == "stored: True"

    # a device provisioned by hand lands in the stack's data directory; its broker reloads
    board = served.cli_json("device", "provision", "--tenant", "mine", "board-2")
    assert "reloaded" in board["broker_config"]
    url = protos.MqttUrl.parse(state.mqtt_url)
    login = {"username": board["username"], "password": board["password"]}
    wait_for("board-2 refused", lambda: probe_mqtt(url.host, url.port, **login))

    before = digest(state)
    assert served.stop() == 0
    again = served.start("--devices", str(DEVICES))
    assert digest(again) == before  # nothing re-issued
    url = protos.MqttUrl.parse(again.mqtt_url)
    me = json.loads(Path(again.credentials["mine"]).read_text())["devices"]["my-board"]
    assert probe_mqtt(url.host, url.port, username=me["username"], password=me["password"])
    assert probe_mqtt(url.host, url.port, **login)  # provisioned earlier: still connects
    stored = batches(again.dsn, "demo")
    wait_for("the fleet did not reconnect", lambda: batches(again.dsn, "demo") > stored)
    ack = served.cli_json("device", "command", "dev-00001", "flush", "--timeout", "45")
    assert ack["status"] == "ack", ack
