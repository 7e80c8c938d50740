"""LISTEN for runner wake-ups on a dedicated asyncpg connection, reconnecting when it drops.

`submit_task` and the minute cron NOTIFY inside their transactions, so a notification is
delivered only after the commit that made the work visible. Notifications sent while the
connection was down are lost: after every (re)connect the listener calls back with
``"wake"`` so the runner looks for work it may have missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import asyncpg

logger = logging.getLogger("ai_worker.long_tasks")

RECONNECT_SECONDS = 1.0
LIVENESS_SECONDS = 15.0


class NotificationListener:
    """Calls `on_message(payload)` for each NOTIFY on `channel`, until `stop()`."""

    def __init__(self, dsn: str, channel: str, on_message: Callable[[str], None]) -> None:
        self.dsn = dsn
        self.channel = channel
        self.on_message = on_message
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="long-tasks-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _deliver(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self.on_message(payload)

    async def _run(self) -> None:
        while True:
            try:
                await self._listen_once()
                logger.warning("long-task listener connection lost; reconnecting")
            except asyncio.CancelledError:
                raise
            except Exception as error:
                logger.warning(
                    "long-task listener: %s; reconnecting in %.0fs",
                    type(error).__name__,
                    RECONNECT_SECONDS,
                )
            await asyncio.sleep(RECONNECT_SECONDS)

    async def _listen_once(self) -> None:
        """Listen on one connection until it is lost (returns) or fails (raises)."""
        lost = asyncio.Event()
        connection = await asyncpg.connect(self.dsn, timeout=10)
        try:
            connection.add_termination_listener(lambda _conn: lost.set())
            await connection.add_listener(self.channel, self._deliver)
            self.connected.set()
            logger.info("long-task listener connected", extra={"fields": {"channel": self.channel}})
            self.on_message("wake")
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), LIVENESS_SECONDS)
                if not lost.is_set():
                    # A half-open TCP connection never reports termination: probe it.
                    await asyncio.wait_for(connection.execute("SELECT 1"), 5)
        finally:
            self.connected.clear()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), 2)
