"""A served stack for the operator tests (loaded by ``-p tests.fix_serve``).

Commands the tests run never see a developer's own running stack (``BINHAI_WORKDIR`` points
nowhere for the session).

- ``served_fleet`` (session): ``binhai up --serve --devices 2 --no-auth`` as a real process on
  its own embedded PostgreSQL and an anonymous broker, returned once both simulated devices
  (tenant ``demo``) have reported health; stopped at the end of the session. It logs JSON
  (``--log-format json``), as do the core and bridge it starts. Tests may add rows of their
  own tenants but must not stop it.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator

import psycopg
import pytest

from binhai._statefile import StackState
from tests.served import Served, served_workdir

FLEET_DEVICES = 2


def pytest_configure(config: pytest.Config) -> None:
    """No test finds a developer's own running `up --serve` stack by accident: commands run by
    tests look for one in a directory that never holds one (``Served`` sets its own)."""
    nowhere = os.path.join(tempfile.gettempdir(), f"binhai-tests-no-stack-{os.getpid()}")
    os.environ["BINHAI_WORKDIR"] = nowhere


@pytest.fixture(scope="session")
def served_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, StackState]]:
    with served_workdir(tmp_path_factory.mktemp("served-fleet")) as workdir:
        served = Served(workdir)
        try:
            # anonymous: tests publish hand-made batches (tests/test_serve_auth.py: with auth)
            state = served.start(
                "--devices",
                str(FLEET_DEVICES),
                "--no-auth",
                global_args=("--log-format", "json", "-v"),
            )
            deadline = time.monotonic() + 60
            while True:
                with psycopg.connect(state.dsn) as conn:
                    row = conn.execute(
                        "SELECT count(DISTINCT device_id) FROM device_health WHERE tenant = 'demo'"
                    ).fetchone()
                if row is not None and row[0] == FLEET_DEVICES:
                    break
                assert time.monotonic() < deadline, "no health from the fleet:\n" + served.output
                time.sleep(0.5)
            yield served, state
        finally:
            served.stop()
