"""``binhai up --serve``: the embedded stack kept running on a durable work directory.

Layout of the work directory (reused by every restart, so data survives)::

    stack.lock          flock held while serving (see binhai._statefile)
    stack.json          endpoints and pids, written once everything is ready, removed at stop
    ports.json          the ports bound last time, reused by the next start when free
    broker/             mosquitto config, persistence and log
    postgres/pgdata/    the embedded PostgreSQL cluster
    core-0.log, bridge-0.log
    devices/            outboxes of the simulated fleet (--devices)
    data/security/      with authentication (the default): CA, identities, tokens, and in
                        stack/ the secrets a restart reuses (binhai._stack_security)
    example_device.py   the printed example, ready to run

With authentication on, the simulated fleet (tenant ``demo``) and the example's device
(``mine/my-board``) are provisioned with passwords kept in 0600 files under
``data/security/stack/``, which the example script reads; an operator token for the CLI is kept
there too. The state file names those files, never a secret.

The services keep their ports across restarts when those are still free (the previous run's
ports come from ``ports.json``), so devices configured with the MQTT URL reconnect by themselves.
A first start tries the standard ports (MQTT 1883, core 50051, dashboard 8080, metrics 9464 and
9465, those of ``deploy/prometheus.yml``) and takes free ones where those are taken.
A core or bridge that dies is restarted (its log says why). Cores, bridges and mosquitto left
running by a serving process that crashed are stopped before a new start (binhai._leftovers).
The serve loop ends on SIGINT or SIGTERM and then stops the fleet, the bridges, the cores, the
broker and PostgreSQL in that order.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType
from typing import Any, Literal

from binhai._leftovers import stop_leftovers
from binhai._stack import Stack, StackError
from binhai._statefile import StackLock, StackState, read_ports

__all__ = ["ServeConfig", "example_script", "serve"]

log = logging.getLogger(__name__)

FLEET_TENANT = "demo"
EXAMPLE_NAME = "example_device.py"
EXAMPLE_TENANT, EXAMPLE_DEVICE = "mine", "my-board"
_SUPERVISE_S = 1.0
_MAX_RESTARTS = 5
# The ports a first start tries (when free): what clients and deploy/prometheus.yml expect.
DEFAULT_PORTS = {
    "broker": 1883,
    "core-0": 50051,
    "core-0-http": 8080,
    "core-0-metrics": 9464,
    "bridge-0-metrics": 9465,
}
# Simulated devices report health (battery, outbox, clock) this often, so a fresh stack shows it.
FLEET_HEARTBEAT_S = 10.0


@dataclass(frozen=True)
class ServeConfig:
    workdir: Path
    devices: int = 0
    speed: float = 1.0
    broker_prefer: Literal["auto", "mosquitto", "amqtt"] = "auto"
    dsn: str | None = None
    mqtt_url: str | None = None
    global_args: tuple[str, ...] = ()
    # Authentication on: device identities, an ACL, a core with tokens (binhai._stack_security).
    secure: bool = False


def example_script(mqtt_url: str, credentials: Path | None = None) -> str:
    """A dozen lines that stream accelerometer data from "my-board" until Ctrl-C, then wait
    until the cloud has stored everything; with ``credentials`` (a provision-fleet JSON file)
    the device logs in with the password it reads from there."""
    if credentials is None:
        imports, login, mqtt = "time", "from device_sdk import Device\n\n", ""
    else:
        imports = "json, time"
        login = f"""from device_sdk import Device, MqttOptions

me = json.load(open("{credentials}"))["devices"]["my-board"]  # 0600
mqtt = MqttOptions(username=me["username"], password=me["password"])
"""
        mqtt = ", mqtt=mqtt"
    return f"""import {imports}, numpy as np
{login}url = "{mqtt_url}"
with Device("my-board", tenant="mine", broker_url=url, data_dir="my-board-data"{mqtt}) as dev:
    dev.add_sensor("accel", rate_hz=50, channels=3, window=128)
    print("streaming as mine/my-board; Ctrl-C stops", flush=True)
    try:
        while True:  # one second of samples (50 Hz, 3 axes) every second
            dev.push("accel", np.random.default_rng().normal(size=(50, 3)).astype(np.float32))
            time.sleep(1)
    except KeyboardInterrupt:
        print("stored:", dev.flush(timeout=60))
"""


class _Fleet:
    """The simulated fleet in a thread until stopped; its failure is raised by ``stop``."""

    def __init__(self, cfg: ServeConfig, stack: Stack) -> None:
        from firmware_sim import Fleet, FleetConfig, device_ids

        assert stack.mqtt_url is not None
        self._stop = threading.Event()
        self._error: BaseException | None = None
        config = FleetConfig(
            devices=cfg.devices,
            duration_s=float("inf"),
            tenant=FLEET_TENANT,
            broker_url=stack.mqtt_url,
            data_dir=cfg.workdir / "devices",
            speed=cfg.speed,
            heartbeat_s=FLEET_HEARTBEAT_S,
        )
        creds = stack.provision_devices(FLEET_TENANT, device_ids(config))
        self._fleet = Fleet(config, credentials=creds.__getitem__ if creds else None)
        self._thread = threading.Thread(target=self._run, name="binhai-fleet", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._fleet.run(stop=self._stop.is_set)
        except BaseException as exc:  # handed to stop(), which raises it
            self._error = exc

    @property
    def failed(self) -> BaseException | None:
        return self._error

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        if self._error is not None:
            raise self._error


def _state(stack: Stack, cfg: ServeConfig, lock_pid: int) -> StackState:
    assert stack.mqtt_url is not None and stack.dsn is not None
    return StackState(
        pid=lock_pid,
        workdir=str(cfg.workdir),
        started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        mqtt_url=stack.mqtt_url,
        core_addr=",".join(stack.core_addrs),
        dsn=stack.dsn,
        broker=stack.broker.kind if stack.broker else "external",
        metrics={name: f"http://{addr}/metrics" for name, addr in stack.metrics_addrs.items()},
        dashboard=f"http://{stack.http_addrs['core-0']}/",
        pids=_pids(stack),
        ports=stack.ports,
        logs={name: str(p.log_path) for name, p in stack.procs.items()},
        fleet_tenant=FLEET_TENANT if cfg.devices else None,
        fleet_devices=cfg.devices,
        **_auth_state(stack, cfg),
    )


def _pids(stack: Stack) -> dict[str, int]:
    """Every process of the stack by name; ``broker`` for mosquitto (SIGHUP reloads it)."""
    pids = {name: p.popen.pid for name, p in stack.procs.items() if p.popen is not None}
    if stack.broker is not None and stack.broker.pid is not None:
        pids["broker"] = stack.broker.pid
    return pids


def _auth_state(stack: Stack, cfg: ServeConfig) -> dict[str, Any]:
    """The state's authentication fields: where the credentials are (files, not secrets)."""
    sec = stack.security
    if sec is None:
        return {}
    tenants = [EXAMPLE_TENANT, *([FLEET_TENANT] if cfg.devices else [])]
    return {
        "auth": True,
        "data_dir": str(sec.layout.data_dir),
        "token_file": str(sec.operator_token_file),
        "credentials": {t: str(sec.credentials_file(t)) for t in tenants},
    }


def _prepare(stack: Stack, cfg: ServeConfig) -> None:
    """Write the example script; with authentication, provision its device and make sure
    the operator token exists (both reused from an earlier run when still valid)."""
    assert stack.mqtt_url is not None
    credentials = None
    if stack.security is not None:
        stack.security.operator_token()
        stack.provision_devices(EXAMPLE_TENANT, [EXAMPLE_DEVICE])
        credentials = stack.security.credentials_file(EXAMPLE_TENANT)
    (cfg.workdir / EXAMPLE_NAME).write_text(example_script(stack.mqtt_url, credentials))


def serve(
    cfg: ServeConfig,
    *,
    on_ready: Callable[[StackState], None],
    stop: threading.Event | None = None,
) -> None:
    """Run the stack until SIGINT/SIGTERM (or ``stop`` is set); raise AlreadyRunning first if
    another process serves ``cfg.workdir``. ``on_ready`` gets the state once it is written."""
    lock = StackLock(cfg.workdir)
    lock.acquire()
    try:
        stop_leftovers(cfg.workdir)  # of a stack that crashed here
        stop = stop or threading.Event()
        ports = {**DEFAULT_PORTS, **read_ports(cfg.workdir)}
        _serve_locked(cfg, lock, stop, ports, on_ready)
    finally:
        lock.release()


def _serve_locked(
    cfg: ServeConfig,
    lock: StackLock,
    stop: threading.Event,
    ports: dict[str, int],
    on_ready: Callable[[StackState], None],
) -> None:
    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("%s: stopping", signal.Signals(signum).name)
        stop.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with Stack(
            cfg.workdir,
            dsn=cfg.dsn,
            mqtt_url=cfg.mqtt_url,
            broker_prefer=cfg.broker_prefer,
            preferred_ports=ports,
            global_args=cfg.global_args,
            # a stable client id: the bridge's persistent session survives a restart
            uid="serve",
            core_http=True,
            secure=cfg.secure,
        ) as stack:
            _prepare(stack, cfg)
            fleet = _Fleet(cfg, stack) if cfg.devices > 0 else None
            state = _state(stack, cfg, os.getpid())
            lock.write(state)
            on_ready(state)
            try:
                _supervise(stack, lock, cfg, fleet, stop)
            finally:
                if fleet is not None:
                    fleet.stop()
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def _supervise(
    stack: Stack, lock: StackLock, cfg: ServeConfig, fleet: _Fleet | None, stop: threading.Event
) -> None:
    """Restart a core or bridge that died (at most _MAX_RESTARTS times each) until ``stop``."""
    restarts: dict[str, int] = {}
    while not stop.wait(_SUPERVISE_S):
        if fleet is not None and fleet.failed is not None:
            raise fleet.failed
        for name, proc in stack.procs.items():
            if proc.alive:
                continue
            restarts[name] = restarts.get(name, 0) + 1
            if restarts[name] > _MAX_RESTARTS:
                raise StackError(
                    f"{name} died {_MAX_RESTARTS} times; see {proc.log_path}:\n{proc.log_tail()}"
                )
            log.warning("%s exited; restarting it (log: %s)", name, proc.log_path)
            stack.start_proc(name)
            lock.write(_state(stack, cfg, os.getpid()))
