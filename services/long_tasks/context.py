"""`TaskContext`: what a running handler sees of its task, and how it reports back.

Every write goes through the lease fence: if this worker lost the task (its lease expired
and another worker took over, or the task was cancelled), the write raises `LeaseLost`
and the handler stops. Cancellation reaches the handler two ways: the runner cancels the
handler's asyncio task (a `CancelledError` at its next ``await``), and `save_checkpoint`,
`set_progress` and `raise_if_cancelled` raise `TaskCancelled` once a cancel was requested,
so a handler that rarely awaits still stops at its next report.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.long_tasks import store
from services.long_tasks.store import Lease


class TaskCancelled(Exception):
    """Raised inside a handler whose task was cancelled with `cancel_task`."""


class TaskContext:
    """The running task as its handler sees it."""

    def __init__(
        self,
        *,
        lease: Lease,
        kind: str,
        attempt: int,
        max_attempts: int,
        checkpoint: Any,
        sessions: async_sessionmaker[AsyncSession],
        resources: Mapping[str, Any] | None = None,
    ) -> None:
        self._lease = lease
        self._sessions = sessions
        self.kind = kind
        self.attempt = attempt
        self.max_attempts = max_attempts
        self.checkpoint = checkpoint
        #: The worker's shared resources (arq ctx): ``settings``, ``redis``, ``db_sessions``.
        self.resources: Mapping[str, Any] = resources or {}
        self.cancel_requested = False

    @property
    def task_id(self) -> int:
        return self._lease.task_id

    @property
    def lease(self) -> Lease:
        return self._lease

    def raise_if_cancelled(self) -> None:
        """Raise `TaskCancelled` if a cancel request has been seen."""
        if self.cancel_requested:
            raise TaskCancelled(f"task {self.task_id} was cancelled")

    async def save_checkpoint(self, state: Any) -> None:
        """Durably store `state` (JSON); a later attempt starts with it as `checkpoint`.

        Raises `ValueError` when `state` is not JSON, `LeaseLost` when the lease is gone,
        `TaskCancelled` when the task was cancelled.
        """
        try:
            json.dumps(state, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise ValueError(f"checkpoint of task {self.task_id} is not JSON: {error}") from None
        async with self._sessions() as session, session.begin():
            cancelled = await store.save_checkpoint(session, self._lease, state)
        self.checkpoint = state
        self._seen_cancel(cancelled)

    async def set_progress(self, fraction: float, message: str | None = None) -> None:
        """Report progress: `fraction` in 0..1 and an optional message.

        Raises `ValueError` for a fraction outside 0..1, `LeaseLost`, `TaskCancelled`.
        """
        if not isinstance(fraction, int | float) or math.isnan(fraction) or not 0 <= fraction <= 1:
            raise ValueError(f"progress fraction must be within 0..1, got {fraction!r}")
        async with self._sessions() as session, session.begin():
            cancelled = await store.set_progress(session, self._lease, float(fraction), message)
        self._seen_cancel(cancelled)

    def _seen_cancel(self, cancelled: bool) -> None:
        if cancelled:
            self.cancel_requested = True
        self.raise_if_cancelled()
