"""Log output of every command: human text, or one JSON object per line (``--log-format json``).

A JSON line has ``ts`` (UTC, ISO 8601, milliseconds), ``level``, ``logger``, ``msg``, every
extra field passed with ``logger.info(..., extra={...})``, and ``exc`` with the traceback when
there is one. The CLI's own status lines ("core serving on port ...") and its one-line errors go
through :func:`status` and :func:`error`, so in JSON mode stderr holds nothing but JSON lines.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any, Literal

import click

__all__ = ["JsonFormatter", "LogFormat", "configure", "error", "status"]

LogFormat = Literal["text", "json"]
_TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_STATUS = logging.getLogger("binhai.cli")
# Attributes every LogRecord has; anything else on a record came in through ``extra``.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_format: LogFormat = "text"


class JsonFormatter(logging.Formatter):
    """One JSON object per record; values JSON cannot encode are written as ``str(value)``."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, timezone.utc)
        out: dict[str, Any] = {
            "ts": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in out:
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure(level: int, fmt: LogFormat) -> None:
    """Send every logger's records at ``level`` and above to stderr, as text or JSON lines
    (unless the root logger has handlers already)."""
    global _format
    _format = fmt
    # status lines always show, whatever the verbosity
    _STATUS.setLevel(logging.INFO)
    root = logging.getLogger()
    if root.handlers:
        # logging is set up already (an embedding program, pytest): leave it, as basicConfig does
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(_TEXT))
    root.addHandler(handler)
    root.setLevel(level)


def status(msg: str, **fields: Any) -> None:
    """A status line for the operator: plain on stderr, or a JSON log line."""
    if _format == "json":
        _STATUS.info(msg, extra=fields)
    else:
        click.echo(msg, err=True)


def error(msg: str) -> None:
    """The one-line error before a non-zero exit: ``error: ...``, or a JSON line."""
    if _format == "json":
        _STATUS.error(msg)
    else:
        click.echo(f"error: {msg}", err=True)
