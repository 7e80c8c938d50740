"""The in-process runner: claims due tasks and runs each as an `Execution` under a lease.

Guarantees:
- At most `concurrency` handlers run at once in this process; a task runs in at most one
  place at a time (claims are `FOR UPDATE SKIP LOCKED`, every later write is fenced).
- It claims at start, whenever capacity frees up, on a NOTIFY (submit, the minute cron),
  and at the earliest known future `run_at`, so a delayed task or a retry starts on time.
  At the earliest lease expiry it reclaims expired leases (their workers died).
- `stop()` stops claiming, lets running handlers finish for `shutdown_grace` seconds, then
  cancels them and releases their tasks to pending (attempt not counted, checkpoint kept).

    runner = Runner(sessions=sessions, owner=worker_id, config=RunnerConfig(), listen_dsn=dsn)
    runner.start()
    ...
    await runner.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.clock import Clock, utc_now
from services.long_tasks import builtin as _builtin  # noqa: F401 - built-in kinds always run
from services.long_tasks import store
from services.long_tasks.execution import Execution, RunnerConfig, log_reclaimed
from services.long_tasks.listener import NotificationListener
from services.long_tasks.models import NOTIFY_CHANNEL
from services.long_tasks.registry import Registry, registry
from services.long_tasks.store import ClaimedTask

__all__ = ["Runner", "RunnerConfig"]

logger = logging.getLogger("ai_worker.long_tasks")

MIN_WAIT_SECONDS = 0.05
ERROR_BACKOFF_SECONDS = 1.0
BUSY_PASSES_BETWEEN_CHECKS = 100


class Runner:
    """Runs long tasks in this process. `start()` once, `stop()` once."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        owner: str,
        config: RunnerConfig,
        listen_dsn: str | None = None,
        handlers: Registry = registry,
        resources: Mapping[str, Any] | None = None,
        clock: Clock = utc_now,
        rng: random.Random | None = None,
    ) -> None:
        self.sessions = sessions
        self.owner = owner
        self.config = config
        self.handlers = handlers
        self.resources = resources or {}
        self.clock = clock
        self.rng = rng or random.Random()
        self.listener = (
            NotificationListener(listen_dsn, NOTIFY_CHANNEL, self._on_notify)
            if listen_dsn
            else None
        )
        self.runs: dict[int, Execution] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._busy_passes = 0
        self._loop_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start listening and claiming in the background."""
        if self.listener is not None:
            self.listener.start()
        self._loop_task = asyncio.create_task(self._claim_loop(), name="long-tasks-runner")

    def wake(self) -> None:
        """Look for due tasks now (cheap; repeated calls coalesce)."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop claiming; give running handlers `shutdown_grace`, then cancel and release them."""
        self._stopping = True
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        if self.listener is not None:
            await self.listener.stop()
        tasks = [run.task for run in self.runs.values() if run.task is not None]
        if not tasks:
            return
        logger.info(
            "long-task runner stopping: waiting up to %.1fs for %d running task(s)",
            self.config.shutdown_grace,
            len(tasks),
        )
        await asyncio.wait(tasks, timeout=self.config.shutdown_grace)
        for run in list(self.runs.values()):
            run.shutdown()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _claim_loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                delay = await self._claim_once()
            except Exception:
                logger.exception("long-task runner: claim pass failed; retrying")
                delay = ERROR_BACKOFF_SECONDS
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._wake.wait()

    async def _claim_once(self) -> float:
        """Claim up to the free capacity; returns how long to wait before the next pass."""
        free = self.config.concurrency - len(self.runs)
        if free > 0:
            async with self.sessions() as session, session.begin():
                claimed = await store.claim(session, self.owner, free, self.config.lease_seconds)
            for task in claimed:
                self._spawn(task)
            if len(claimed) == free and self._busy_passes < BUSY_PASSES_BETWEEN_CHECKS:
                # Busy: more may be due, and a finishing run wakes the loop. Expired leases
                # are still looked for every so many busy passes, or whenever capacity is
                # left over.
                self._busy_passes += 1
                return self.config.idle_poll_seconds
        self._busy_passes = 0
        async with self.sessions() as session:
            pending_in, lease_in = await store.seconds_until_next_events(session)
        if lease_in is not None and lease_in <= 0:
            async with self.sessions() as session, session.begin():
                reclaimed = await store.reclaim_expired(session)
            for row in reclaimed:
                log_reclaimed(row)
            if reclaimed:
                return 0
        waits = [self.config.idle_poll_seconds]
        if lease_in is not None:
            waits.append(lease_in + 0.01)
        if pending_in is not None and len(self.runs) < self.config.concurrency:
            waits.append(pending_in)
        return max(MIN_WAIT_SECONDS, min(waits))

    def _spawn(self, claimed: ClaimedTask) -> None:
        run = Execution(
            claimed,
            sessions=self.sessions,
            config=self.config,
            handlers=self.handlers,
            resources=self.resources,
            clock=self.clock,
            rng=self.rng,
        )
        self.runs[run.task_id] = run
        run.start(on_done=self._finished)

    def _finished(self, run: Execution) -> None:
        self.runs.pop(run.task_id, None)
        self.wake()

    def _on_notify(self, payload: str) -> None:
        if payload.startswith("cancel:"):
            with contextlib.suppress(ValueError):
                run = self.runs.get(int(payload.removeprefix("cancel:")))
                if run is not None:
                    run.request_cancel()
            return
        self.wake()
