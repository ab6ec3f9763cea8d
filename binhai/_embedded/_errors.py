"""The one exception of ``binhai._embedded``."""

from __future__ import annotations

from pathlib import Path

__all__ = ["EmbeddedError", "log_tail"]


class EmbeddedError(RuntimeError):
    """An embedded service could not be started, reached or stopped.

    ``service`` names it (``"mosquitto"``, ``"amqtt"``, ``"postgres"``); ``log_tail`` holds the last
    lines of its log where there is one, and is also part of the message.
    """

    def __init__(self, service: str, reason: str, *, log_tail: str = "") -> None:
        message = f"{service}: {reason}"
        if log_tail:
            message = f"{message}\n--- last lines of the {service} log ---\n{log_tail}"
        super().__init__(message)
        self.service = service
        self.reason = reason
        self.log_tail = log_tail


def log_tail(*paths: Path, lines: int = 30) -> str:
    """Return the last ``lines`` lines of each existing, non-empty file in ``paths``."""
    chunks = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if text.strip():
            chunks.append("\n".join(text.splitlines()[-lines:]))
    return "\n".join(chunks)
