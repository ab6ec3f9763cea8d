"""``binhai up --serve`` as a real child process, for the operator tests.

``Served(workdir).start(...)`` runs ``python -m binhai up --serve --workdir W --json`` and waits
until its ``stack.json`` is written under a held lock; ``stop()`` sends SIGTERM and returns the
exit status. ``cli(...)`` runs another ``binhai`` command as a process with ``BINHAI_WORKDIR=W``,
the way a user's shell would find the stack.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from binhai._statefile import StackState, running_state

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 120.0


def workdir_for_postgres(tmp_path: Path) -> Path:
    """A work directory the embedded PostgreSQL can use (outside pytest's base temp as root,
    see binhai._embedded._postgres)."""
    if os.name == "posix" and os.geteuid() == 0:
        return Path(tempfile.mkdtemp(prefix="binhai-test-serve-"))
    return tmp_path / "serve"


@contextmanager
def served_workdir(tmp_path: Path) -> Iterator[Path]:
    path = workdir_for_postgres(tmp_path)
    try:
        yield path
    finally:
        if not str(path).startswith(str(tmp_path)):
            shutil.rmtree(path, ignore_errors=True)


class Served:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.out = workdir.parent / f"{workdir.name}.serve.out"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BINHAI_")}
        env["BINHAI_WORKDIR"] = str(self.workdir)
        env["COLUMNS"] = "200"  # rich tables unabridged
        return env

    def start(self, *args: str, global_args: tuple[str, ...] = ()) -> StackState:
        with self.out.open("ab") as fh:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "binhai",
                    *global_args,
                    "up",
                    "--serve",
                    "--workdir",
                    str(self.workdir),
                    "--json",
                    *args,
                ],
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=ROOT,
                env=self.env,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while (state := running_state(self.workdir)) is None or state.pid != self.proc.pid:
            if self.proc.poll() is not None:
                raise AssertionError(f"up --serve exited {self.proc.returncode}:\n{self.output}")
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"up --serve not ready:\n{self.output}")
            time.sleep(0.1)
        return state

    @property
    def output(self) -> str:
        return self.out.read_text(errors="replace") if self.out.exists() else ""

    def wait(self, timeout: float = 90) -> int:
        """Wait for the serving process to exit on its own (e.g. after ``binhai down``)."""
        proc, self.proc = self.proc, None
        assert proc is not None
        return proc.wait(timeout)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 90) -> int:
        proc, self.proc = self.proc, None
        if proc is None:
            return 0
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(f"up --serve did not stop:\n{self.output}") from None

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "binhai", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
            env=self.env,
            check=False,
        )

    def cli_json(self, *args: str, timeout: float = 120) -> Any:
        done = self.cli(*args, "--json", timeout=timeout)
        assert done.returncode == 0, done.stderr + done.stdout
        return json.loads(done.stdout.strip().splitlines()[-1])
