"""Logging set-up: text or JSON lines (`LOG_FORMAT`), with secrets redacted.

JSON lines carry stable keys: `ts`, `level`, `logger`, `message`, plus any structured
fields passed as ``extra={"fields": {...}}`` (job_id, function, try, duration, outcome...).
Every known secret value (passwords, API keys, URLs with credentials) is replaced by
``***`` in the final line, whatever logged it.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from services.core.settings import Settings

REDACTED = "***"
HANDLER_NAME = "ai-worker"


class RedactingFormatter(logging.Formatter):
    """Formats a record as one text or JSON line, then masks every secret value in it.

    Hand-rolled rather than a %-style format: at thousands of jobs a second the worker
    writes two lines per job, and the timestamp (cached per second) and the line are the
    costly parts.
    """

    def __init__(self, secrets: Iterable[str], json_lines: bool) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self.json_lines = json_lines
        self._second = -1
        self._stamp = ""

    def _timestamp(self, created: float) -> str:
        second = int(created)
        if second != self._second:
            moment = datetime.fromtimestamp(second, UTC)
            self._second = second
            self._stamp = moment.strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._stamp}.{int((created - second) * 1000):03d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = getattr(record, "fields", None) or {}
        line = self._json(record, fields) if self.json_lines else self._text(record, fields)
        for secret in self.secrets:
            line = line.replace(secret, REDACTED)
        return line

    def _text(self, record: logging.LogRecord, fields: dict[str, Any]) -> str:
        line = f"{self._timestamp(record.created)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if fields:
            line += "".join(f" {k}={v}" for k, v in fields.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line

    def _json(self, record: logging.LogRecord, fields: dict[str, Any]) -> str:
        payload: dict[str, Any] = {
            "ts": self._timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in fields.items():
            payload.setdefault(key, value)
        if record.exc_info:
            payload["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str, ensure_ascii=False)


def configure_logging(settings: Settings) -> None:
    """Route the root logger (and arq's) through one redacting handler on stderr.

    Idempotent: calling it again replaces the handler instead of adding another.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(
        RedactingFormatter(settings.secret_values(), json_lines=settings.log_format == "json")
    )
    # Lines never show the caller's file, line, thread or process: skip collecting them.
    logging._srcfile = None  # documented switch: skips the caller lookup per record
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if h.get_name() != HANDLER_NAME]
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    for name in ("arq", "arq.worker", "arq.connections", "arq.jobs"):
        # arq's CLI installs its own plain handler; ours replaces it so every line is redacted.
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
        logger.setLevel(settings.log_level)


def quiet_arq_job_lines(settings: Settings) -> None:
    """From now on, arq's INFO lines (two per job) are not even created; below DEBUG only.

    Our per-job lines carry the same facts as fields, and formatting a log record costs
    about as much CPU as running a no-op job: at thousands of jobs a second the duplicate
    lines would cost 5-10% throughput. arq's warnings and errors still come through.
    Called once the worker has started, so arq's start-up lines are still shown.
    """
    if settings.log_level != "DEBUG":
        logging.getLogger("arq.worker").setLevel(logging.WARNING)
