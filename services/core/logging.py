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
    """Formats a record, then masks every secret value in the result."""

    def __init__(self, secrets: Iterable[str], json_lines: bool) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s%(fields)s")
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self.json_lines = json_lines

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = getattr(record, "fields", None) or {}
        if self.json_lines:
            line = self._json(record, fields)
        else:
            record.fields = "".join(f" {k}={v}" for k, v in fields.items()) if fields else ""
            line = super().format(record)
        for secret in self.secrets:
            line = line.replace(secret, REDACTED)
        return line

    def _json(self, record: logging.LogRecord, fields: dict[str, Any]) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
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


def use_for_arq_cli(settings: Settings) -> None:
    """Make `arq <settings>` configure logging our way from its very first line.

    arq's CLI imports the settings class, then applies its own plain log config, then logs
    "Starting worker" before any startup hook runs. Replacing the CLI's default config
    function (arq reads it from its module at call time) gives those first lines our
    format and redaction too. `--custom-log-dict` still wins, as arq documents.
    """
    import arq.cli

    def log_config(verbose: bool) -> dict[str, Any]:
        configure_logging(settings)
        if verbose:
            logging.getLogger().setLevel(logging.DEBUG)
        return {"version": 1, "incremental": True}

    arq.cli.default_log_config = log_config  # type: ignore[attr-defined]
