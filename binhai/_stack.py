"""A whole binhai deployment on one machine: broker, database, cores and bridges as processes.

Used by ``binhai up`` and by the end-to-end and fault tests, which kill and restart its
processes. The broker and the database are embedded unless URLs are given; cores and bridges
are real ``binhai core serve`` / ``binhai bridge run`` child processes with logs in ``workdir``.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Literal

from binhai._embedded import (
    EmbeddedBroker,
    EmbeddedPostgres,
    free_port,
    port_free,
    start_broker,
    start_postgres,
)
from binhai._stack_security import StackSecurity

log = logging.getLogger(__name__)


def _limit_memory(limit: int) -> None:
    """In the child before exec: cap its address space at ``limit`` bytes."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


class StackError(RuntimeError):
    """A process of the stack failed to start; the message carries its log tail."""


@dataclass
class Proc:
    name: str
    args: list[str]
    log_path: Path
    ready_path: Path
    popen: subprocess.Popen[bytes] | None = None
    # Extra environment (secrets go here, not in the command line other users can read).
    env: dict[str, str] = field(default_factory=dict, repr=False)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


@dataclass
class Stack:
    workdir: Path
    dsn: str | None = None
    mqtt_url: str | None = None
    cores: int = 1
    bridges: int = 1
    verbose: bool = False
    tenant: str = "+"
    broker_prefer: Literal["auto", "mosquitto", "amqtt"] = "auto"
    share_group: str | None = None
    start_timeout: float = 60.0
    # Extra command-line options for every core / bridge, e.g. ("--max-inflight", "200").
    core_args: tuple[str, ...] = ()
    bridge_args: tuple[str, ...] = ()
    # Address-space limit (RLIMIT_AS, bytes) for every core process; None: the default.
    core_memory_limit: int | None = None
    # Ports to use when free ("broker", "core-0", "core-0-metrics", "bridge-0-metrics", ...),
    # e.g. the previous run's, so a restarted stack keeps its endpoints; else the OS picks.
    preferred_ports: dict[str, int] = field(default_factory=dict)
    # Extra options before the command for every core / bridge, e.g. ("--log-format", "json").
    global_args: tuple[str, ...] = ()
    # Give every core a dashboard (--http-listen); its address lands in http_addrs.
    core_http: bool = False
    procs: dict[str, Proc] = field(default_factory=dict)
    core_addrs: list[str] = field(default_factory=list)
    # Process name -> its Prometheus endpoint (host:port).
    metrics_addrs: dict[str, str] = field(default_factory=dict)
    # Core name -> its dashboard (host:port), with core_http.
    http_addrs: dict[str, str] = field(default_factory=dict)
    broker: EmbeddedBroker | None = None
    postgres: EmbeddedPostgres | None = None
    # Authentication on: an embedded mosquitto with generated identities and ACL (when this
    # stack starts the broker), cores with tokens; credentials under ``workdir/data/security``.
    secure: bool = False
    security: StackSecurity | None = None
    # Part of the bridges' MQTT client ids; give a fixed one so a restarted stack's bridges
    # resume their persistent sessions (and what the broker queued for them meanwhile).
    uid: str = field(default_factory=lambda: uuid.uuid4().hex[:6])

    def __enter__(self) -> Stack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        import asyncio

        from cloud_core import migrate

        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.secure:
            self.security = StackSecurity.create(self.workdir / "data")
        if self.mqtt_url is None and self.security is not None:
            self.broker = self.security.start_broker(
                self.workdir / "broker", port=self._preferred("broker") or 0
            )
            self.mqtt_url = self.broker.url
        elif self.mqtt_url is None:
            self.broker = start_broker(
                self.workdir / "broker",
                prefer=self.broker_prefer,
                port=self._preferred("broker") or 0,
            )
            self.mqtt_url = self.broker.url
        if self.dsn is None:
            self.postgres = start_postgres(self.workdir / "postgres")
            self.dsn = self.postgres.dsn
        asyncio.run(migrate(self.dsn))
        for i in range(self.cores):
            port = self._port(f"core-{i}")
            self.core_addrs.append(f"127.0.0.1:{port}")
            auth = self.security.core_args() if self.security else []
            http: list[str] = []
            if self.core_http:
                addr = self.http_addrs[f"core-{i}"] = f"127.0.0.1:{self._port(f'core-{i}-http')}"
                http = ["--http-listen", addr]
            self._add(
                f"core-{i}",
                ["core", "serve", "--dsn", self.dsn, "--listen", f"127.0.0.1:{port}", *auth, *http],
                self.core_args,
            )
        env: dict[str, str] = {}
        url_args = ["--mqtt-url", self.mqtt_url]
        if self.security is not None:
            env = self.security.bridge_env(self.mqtt_url, own_broker=self.broker is not None)
            url_args = [] if "BINHAI_MQTT_URL" in env else url_args
        for i in range(self.bridges):
            self._add(
                f"bridge-{i}",
                [
                    "bridge",
                    "run",
                    *url_args,
                    "--core-addr",
                    ",".join(self.core_addrs),
                    "--client-id",
                    f"binhai-bridge-{self.uid}-{i}",
                    "--tenant",
                    self.tenant,
                    "--share-group",
                    self._share_group(),
                ],
                self.bridge_args,
                env=env,
            )
        for name in self.procs:
            self.start_proc(name)

    def _preferred(self, name: str) -> int | None:
        """The preferred port for ``name`` if it is free now, else None."""
        port = self.preferred_ports.get(name)
        return port if port and port_free(port) else None

    def _port(self, name: str) -> int:
        return self._preferred(name) or free_port()

    @property
    def ports(self) -> dict[str, int]:
        """Every port this stack bound, by name (the keys ``preferred_ports`` takes)."""
        out = {"broker": self.broker.port} if self.broker is not None else {}
        for i, addr in enumerate(self.core_addrs):
            out[f"core-{i}"] = int(addr.rsplit(":", 1)[1])
        for name, addr in self.metrics_addrs.items():
            out[f"{name}-metrics"] = int(addr.rsplit(":", 1)[1])
        for name, addr in self.http_addrs.items():
            out[f"{name}-http"] = int(addr.rsplit(":", 1)[1])
        return out

    def _share_group(self) -> str:
        """The bridges' shared-subscription group; one bridge subscribes plainly ("").

        mosquitto 2.0 does not restore shared subscriptions after a broker restart, so messages
        published then would reach no bridge; a plain subscription of a persistent session is
        restored. Shared subscriptions are only needed to split load between bridges.
        """
        if self.share_group is not None:
            return self.share_group
        return "" if self.bridges == 1 else "bridge"

    def _add(
        self, name: str, args: list[str], extra: tuple[str, ...], env: dict[str, str] | None = None
    ) -> None:
        ready = self.workdir / f"{name}.ready"
        metrics = self.metrics_addrs[name] = f"127.0.0.1:{self._port(f'{name}-metrics')}"
        args = [*args, *extra, "--metrics-listen", metrics, "--ready-file", str(ready)]
        self.procs[name] = Proc(name, args, self.workdir / f"{name}.log", ready, env=env or {})

    def provision_devices(self, tenant: str, device_ids: list[str]) -> dict[str, tuple[str, str]]:
        """Broker identities for devices (device id -> (username, password)); the running
        broker is told to reload. Empty without authentication or with a foreign broker."""
        if self.security is None or self.broker is None:
            return {}
        return self.security.provision_devices(self.broker, tenant, device_ids)

    def metrics(self, name: str) -> dict[str, float]:
        """Scrape process ``name``'s Prometheus endpoint: ``{'sample{labels}': value}``."""
        from urllib.request import urlopen

        from protos import parse_exposition

        with urlopen(f"http://{self.metrics_addrs[name]}/metrics", timeout=5) as resp:
            return parse_exposition(resp.read().decode())

    def start_proc(self, name: str, *, wait: bool = True) -> None:
        p = self.procs[name]
        p.ready_path.unlink(missing_ok=True)
        verbose = ["-v"] if self.verbose else []
        cmd = [sys.executable, "-m", "binhai", *verbose, *self.global_args, *p.args]
        limit = self.core_memory_limit if name.startswith("core") else None
        with open(p.log_path, "ab") as fh:
            p.popen = subprocess.Popen(
                cmd,
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **p.env},
                preexec_fn=None if limit is None else partial(_limit_memory, limit),
            )
        if wait:
            self.wait_ready(name)

    def wait_ready(self, name: str) -> None:
        p = self.procs[name]
        deadline = time.monotonic() + self.start_timeout
        while not p.ready_path.exists():
            if not p.alive:
                raise StackError(f"{name} exited during start-up:\n{p.log_tail()}")
            if time.monotonic() > deadline:
                raise StackError(
                    f"{name} not ready after {self.start_timeout:.0f}s:\n{p.log_tail()}"
                )
            time.sleep(0.05)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        p = self.procs[name]
        if p.popen is not None and p.alive:
            p.popen.send_signal(sig)
            p.popen.wait(timeout=60)

    def restart(self, name: str) -> None:
        self.kill(name)
        self.start_proc(name)

    def stop(self) -> None:
        # Bridges first (they drain into the cores), then cores, then the services.
        for prefix in ("bridge", "core"):
            for name, p in self.procs.items():
                if name.startswith(prefix) and p.alive:
                    assert p.popen is not None
                    p.popen.send_signal(signal.SIGTERM)
            for name, p in self.procs.items():
                if name.startswith(prefix) and p.popen is not None:
                    try:
                        p.popen.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        log.warning("%s did not stop on SIGTERM; killing", name)
                        p.popen.kill()
                        p.popen.wait()
        if self.broker is not None:
            self.broker.stop()
        if self.postgres is not None:
            self.postgres.stop()
