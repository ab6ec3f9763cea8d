"""``start_broker``: mosquitto when installed, else the in-process amqtt broker."""

from __future__ import annotations

import logging
from pathlib import Path
from types import TracebackType
from typing import Literal, Protocol

from ._amqtt import AmqttThread
from ._errors import EmbeddedError
from ._mosquitto import MosquittoProcess, find_mosquitto
from ._ports import free_port

__all__ = ["BrokerKind", "EmbeddedBroker", "start_broker"]

logger = logging.getLogger(__name__)

BrokerKind = Literal["mosquitto", "amqtt"]
_HOST = "127.0.0.1"
_PORT_ATTEMPTS = 3


class _Backend(Protocol):
    kind: str
    port: int

    @property
    def running(self) -> bool: ...

    def start(self, *, timeout: float) -> None: ...

    def stop(self) -> None: ...

    def kill(self) -> None: ...


class EmbeddedBroker:
    """A local MQTT broker on ``127.0.0.1``, owned by this process; made by :func:`start_broker`.

    ``url`` is in the form ``protos.MqttUrl`` parses; for amqtt it asks for MQTT 3.1.1.
    ``restart`` keeps the port (and, for mosquitto, the persisted sessions and retained messages).
    """

    def __init__(self, backend: _Backend, workdir: Path, *, timeout: float) -> None:
        self._backend = backend
        self._timeout = timeout
        self.workdir = workdir

    @property
    def kind(self) -> BrokerKind:
        return "mosquitto" if self._backend.kind == "mosquitto" else "amqtt"

    @property
    def host(self) -> str:
        return _HOST

    @property
    def port(self) -> int:
        return self._backend.port

    @property
    def url(self) -> str:
        query = "" if self.kind == "mosquitto" else "?protocol=3.1.1"
        return f"mqtt://{_HOST}:{self.port}{query}"

    @property
    def running(self) -> bool:
        return self._backend.running

    @property
    def pid(self) -> int | None:
        """The mosquitto process's pid (SIGHUP reloads its credentials); None in-process."""
        return self._backend.pid if isinstance(self._backend, MosquittoProcess) else None

    def stop(self) -> None:
        """Stop the broker; idempotent. Mosquitto writes its persistence file on the way out."""
        self._backend.stop()

    def start(self) -> None:
        """Start the broker again on the same port after :meth:`stop`."""
        self._backend.start(timeout=self._timeout)

    def kill(self) -> None:
        """Crash the broker (mosquitto: SIGKILL, state kept only as of its last autosave; the
        in-process broker: stopped, which forgets everything anyway). ``start`` brings it back."""
        self._backend.kill()

    def reload(self) -> None:
        """Make mosquitto re-read its password and ACL files (SIGHUP)."""
        if not isinstance(self._backend, MosquittoProcess):
            raise EmbeddedError(self.kind, "only mosquitto reloads credentials")
        self._backend.reload()

    def restart(self) -> None:
        """Stop, then start on the same port with the same persistence."""
        self.stop()
        self.start()

    def __enter__(self) -> EmbeddedBroker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<EmbeddedBroker {self.kind} {self.url} {state}>"


def start_broker(
    workdir: Path,
    *,
    port: int = 0,
    prefer: Literal["auto", "mosquitto", "amqtt"] = "auto",
    timeout: float = 10.0,
    security: str | None = None,
) -> EmbeddedBroker:
    """Start a broker on ``127.0.0.1:port`` (a free port when 0) and wait until it accepts clients.

    ``prefer="auto"`` runs mosquitto when it is on PATH (or in /usr/sbin and similar), else amqtt;
    ``"mosquitto"`` fails when it is not installed; ``"amqtt"`` forces the in-process broker.
    Config, persistence and logs go to ``workdir`` (created if missing). Raises EmbeddedError with
    the reason and the broker's log tail when it does not come up within ``timeout`` seconds.

    ``security`` (mosquitto only; with a fixed ``port``) replaces the anonymous listener by
    authenticated listeners (:func:`binhai._security.render_security`).
    """
    if prefer not in ("auto", "mosquitto", "amqtt"):
        raise ValueError(f"prefer must be 'auto', 'mosquitto' or 'amqtt', not {prefer!r}")
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    executable = None if prefer == "amqtt" else find_mosquitto()
    if executable is None and prefer == "mosquitto":
        raise EmbeddedError("mosquitto", "not found on PATH nor in /usr/sbin, /usr/local/sbin")
    if security is not None and (executable is None or port == 0):
        raise EmbeddedError("mosquitto", "authentication needs mosquitto and a fixed port")
    if executable is None and prefer == "auto":
        logger.info("mosquitto not found; using the in-process amqtt broker (MQTT 3.1.1 only)")

    attempts = _PORT_ATTEMPTS if port == 0 else 1
    for attempt in range(1, attempts + 1):
        chosen = port or free_port(_HOST)
        backend: _Backend = (
            MosquittoProcess(executable, workdir, _HOST, chosen, security=security)
            if executable is not None
            else AmqttThread(_HOST, chosen)
        )
        try:
            backend.start(timeout=timeout)
        except EmbeddedError:
            # A port picked by free_port can be taken before the broker binds it: try another.
            if attempt == attempts:
                raise
            logger.warning("%s did not start on port %d; trying another port", backend.kind, chosen)
            continue
        broker = EmbeddedBroker(backend, workdir, timeout=timeout)
        logger.info("started %r in %s", broker, workdir)
        return broker
    raise AssertionError("unreachable")
