"""Prepare a process that arq's own CLI (`arq <settings>`, `python -m arq ...`) will run.

arq's CLI imports the settings class, applies its own plain log config, creates the
`Worker` (which takes the current event loop) and logs "Starting worker" before any of our
startup hooks run. arq reads its default log-config function from its module at call time,
so replacing it lets us act at exactly that moment: configure our logging (format and
redaction from the first line) and install the event loop (`WORKER_EVENT_LOOP`). An
explicit `--custom-log-dict` still wins for logging, as arq documents.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from services.core.logging import configure_logging
from services.core.settings import Settings


def install_event_loop(settings: Settings) -> None:
    """Make the current thread's event loop a uvloop loop (`WORKER_EVENT_LOOP=uvloop`).

    uvloop runs the same asyncio code faster (the worker spends most of its time in
    Redis round trips); `WORKER_EVENT_LOOP=asyncio` keeps the standard loop.
    """
    if settings.worker_event_loop == "uvloop":
        import uvloop

        asyncio.set_event_loop(uvloop.new_event_loop())


def prepare_for_arq_cli(settings: Settings) -> None:
    """Hook our logging and event loop into arq's CLI start-up (see module docstring)."""
    import arq.cli

    def log_config(verbose: bool) -> dict[str, Any]:
        configure_logging(settings)
        if verbose:
            logging.getLogger().setLevel(logging.DEBUG)
        install_event_loop(settings)
        return {"version": 1, "incremental": True}

    arq.cli.default_log_config = log_config  # type: ignore[attr-defined]
