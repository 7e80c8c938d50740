"""The in-process runner: claims due tasks and runs their handlers under a lease.

Guarantees:
- At most `concurrency` handlers run at once in this process; a task runs in at most one
  place at a time (claims are `FOR UPDATE SKIP LOCKED`, writes are fenced).
- While a handler runs, its lease is renewed every `lease_seconds / 3`; a lost lease
  cancels the handler and nothing more is written for that run.
- It claims at start, whenever capacity frees up, on a NOTIFY (submit, cron) and at the
  earliest known future `run_at` or lease expiry (expired leases are reclaimed then).
- `stop()` stops claiming, lets running handlers finish for `shutdown_grace` seconds, then
  cancels them and releases their tasks to pending (attempt not counted, checkpoint kept).
Outcomes: a result -> succeeded (a recurring task is re-armed to its next occurrence);
an exception or timeout -> retry after exponential backoff with jitter, or failed once
attempts are used up; a cancel request -> cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.clock import Clock, utc_now
from services.core.metrics import LONG_TASK_TRANSITIONS
from services.core.settings import Settings
from services.long_tasks import store
from services.long_tasks.context import TaskCancelled, TaskContext
from services.long_tasks.listener import NotificationListener
from services.long_tasks.models import CANCELLED, FAILED, NOTIFY_CHANNEL, SUCCEEDED
from services.long_tasks.registry import Registry, registry
from services.long_tasks.store import ClaimedTask, LeaseLost
from services.long_tasks.timing import backoff_delay, next_run

logger = logging.getLogger("ai_worker.long_tasks")

MIN_WAIT_SECONDS = 0.05
ERROR_BACKOFF_SECONDS = 1.0
MAX_ERROR_CHARS = 4000


@dataclass(frozen=True)
class RunnerConfig:
    """Limits of one runner; `from_settings` reads the `LONG_TASK_*` variables."""

    concurrency: int = 4
    lease_seconds: float = 60.0
    shutdown_grace: float = 30.0
    retry_base_seconds: float = 10.0
    retry_max_seconds: float = 3600.0
    idle_poll_seconds: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RunnerConfig:
        return cls(
            concurrency=settings.long_task_concurrency,
            lease_seconds=settings.long_task_lease_seconds,
            shutdown_grace=settings.long_task_shutdown_grace,
            retry_base_seconds=settings.long_task_retry_base_seconds,
            retry_max_seconds=settings.long_task_retry_max_seconds,
        )


@dataclass
class _Run:
    claimed: ClaimedTask
    context: TaskContext
    started: float
    task: asyncio.Task[None] | None = None
    cancel_requested: bool = False
    lease_lost: bool = False
    shutting_down: bool = False


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
        self.runs: dict[int, _Run] = {}
        self._wake = asyncio.Event()
        self._stopping = False
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
        self.wake()
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        if self.listener is not None:
            await self.listener.stop()
        tasks = [run.task for run in self.runs.values() if run.task is not None]
        if tasks:
            logger.info(
                "long-task runner stopping: waiting up to %.1fs for %d running task(s)",
                self.config.shutdown_grace,
                len(tasks),
            )
            _, still_running = await asyncio.wait(tasks, timeout=self.config.shutdown_grace)
            for run in list(self.runs.values()):
                if run.task in still_running:
                    run.shutting_down = True
                    run.task.cancel()
            await asyncio.gather(*still_running, return_exceptions=True)

    # -- claiming -------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                delay = await self._claim_once()
            except Exception:
                logger.exception("long-task runner: claim pass failed; retrying")
                delay = ERROR_BACKOFF_SECONDS
            if delay <= 0 or self._stopping:
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    async def _claim_once(self) -> float:
        """One pass: claim up to free capacity; returns how long to wait before the next."""
        free = self.config.concurrency - len(self.runs)
        if free > 0:
            async with self.sessions() as session, session.begin():
                claimed = await store.claim(session, self.owner, free, self.config.lease_seconds)
            for task in claimed:
                self._spawn(task)
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

    def _on_notify(self, payload: str) -> None:
        if payload.startswith("cancel:"):
            run = self.runs.get(int(payload.removeprefix("cancel:")))
            if run is not None:
                self._deliver_cancel(run)
            return
        self.wake()

    def _deliver_cancel(self, run: _Run) -> None:
        if not run.cancel_requested and run.task is not None:
            run.cancel_requested = True
            run.context.cancel_requested = True
            run.task.cancel()

    def _spawn(self, claimed: ClaimedTask) -> None:
        context = TaskContext(
            lease=claimed.lease,
            kind=claimed.kind,
            attempt=claimed.attempts,
            max_attempts=claimed.max_attempts,
            checkpoint=claimed.checkpoint,
            sessions=self.sessions,
            resources=self.resources,
        )
        run = _Run(claimed, context, time.monotonic())
        self.runs[claimed.lease.task_id] = run
        run.task = asyncio.create_task(
            self._execute(run), name=f"long-task-{claimed.lease.task_id}"
        )
        if claimed.cancel_requested:
            self._deliver_cancel(run)

    # -- running --------------------------------------------------------------------------

    async def _execute(self, run: _Run) -> None:
        claimed = run.claimed
        self._log(run, "long task started", "started")
        heartbeat = asyncio.create_task(self._heartbeat(run))
        try:
            outcome, result, error = await self._call_handler(run)
        finally:
            heartbeat.cancel()
        try:
            await self._record(run, outcome, result, error)
        except LeaseLost:
            self._log(run, "long task lease lost; outcome dropped", "lease_lost", error=error)
        except Exception:
            logger.exception("long task %s: recording outcome failed", claimed.lease.task_id)
        finally:
            self.runs.pop(claimed.lease.task_id, None)
            self.wake()

    async def _call_handler(self, run: _Run) -> tuple[str, Any, str | None]:
        """Run the handler; returns (outcome, result, error) without raising."""
        spec = self.handlers.get(run.claimed.kind)
        try:
            if spec is None:
                raise LookupError(
                    f"no handler for kind {run.claimed.kind!r} in this worker "
                    "(is its module listed in LONG_TASK_MODULES?)"
                )
            async with asyncio.timeout(spec.timeout) as deadline:
                try:
                    result = await spec.handler(run.context, run.claimed.payload)
                except asyncio.CancelledError:
                    if deadline.expired():
                        raise  # becomes TimeoutError at the end of the block
                    return self._after_cancel(run), None, None
            json.dumps(result, allow_nan=False)
        except TimeoutError as error:
            if spec is not None and deadline.expired():
                return "failed", None, f"timed out after {spec.timeout}s"
            return "failed", None, _describe(error)
        except TaskCancelled:
            return CANCELLED, None, None
        except LeaseLost:
            return "lease_lost", None, None
        except Exception as error:
            return "failed", None, _describe(error)
        if run.cancel_requested:
            return CANCELLED, None, None
        return SUCCEEDED, result, None

    def _after_cancel(self, run: _Run) -> str:
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()  # handled here: later awaits of this task must run normally
        if run.cancel_requested:
            return CANCELLED
        if run.lease_lost:
            return "lease_lost"
        return "released"

    async def _heartbeat(self, run: _Run) -> None:
        interval = self.config.lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            try:
                async with self.sessions() as session, session.begin():
                    cancelled = await store.renew(
                        session, run.claimed.lease, self.config.lease_seconds
                    )
            except LeaseLost:
                run.lease_lost = True
                if run.task is not None:
                    run.task.cancel()
                return
            except Exception as error:
                logger.warning(
                    "long task %s: heartbeat failed: %s", run.claimed.lease.task_id, error
                )
                continue
            if cancelled:
                self._deliver_cancel(run)

    async def _record(self, run: _Run, outcome: str, result: Any, error: str | None) -> None:
        claimed, lease = run.claimed, run.claimed.lease
        if outcome == "lease_lost":
            self._log(run, "long task lease lost; handler stopped", outcome)
            return
        async with self.sessions() as session, session.begin():
            if outcome == "released":
                await store.release(session, lease)
                self._log(run, "long task released to pending (attempt not counted)", outcome)
                return
            rearm_at = None
            if claimed.schedule and outcome != CANCELLED:
                rearm_at = next_run(
                    claimed.schedule, claimed.schedule_timezone or "UTC", self.clock()
                )
            if outcome == "failed" and claimed.attempts < claimed.max_attempts:
                delay = backoff_delay(
                    claimed.attempts,
                    base=self.config.retry_base_seconds,
                    cap=self.config.retry_max_seconds,
                    rng=self.rng,
                )
                await store.retry(session, lease, error or "failed", delay)
                self._log(
                    run,
                    "long task attempt failed; will retry",
                    "retrying",
                    error=error,
                    retry_in=round(delay, 3),
                )
                return
            await store.finish(
                session, lease, outcome, result=result, error=error, rearm_at=rearm_at
            )
        level = logging.WARNING if outcome == FAILED else logging.INFO
        message = f"long task {outcome}" + (
            f"; re-armed for {rearm_at.isoformat()}" if rearm_at else ""
        )
        self._log(run, message, outcome, level=level, error=error)

    # -- observability --------------------------------------------------------------------

    def _log(
        self, run: _Run, message: str, outcome: str, level: int = logging.INFO, **extra: Any
    ) -> None:
        LONG_TASK_TRANSITIONS.labels(run.claimed.kind, outcome).inc()
        fields = {
            "task_id": run.claimed.lease.task_id,
            "kind": run.claimed.kind,
            "attempt": run.claimed.attempts,
            "duration": round(time.monotonic() - run.started, 3),
            "outcome": outcome,
            **{k: v for k, v in extra.items() if v is not None},
        }
        logger.log(level, message, extra={"fields": fields})


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:MAX_ERROR_CHARS]


def log_reclaimed(row: Any) -> None:
    """Log and count one row `store.reclaim_expired` changed."""
    outcome = "failed" if row.status == FAILED else "reclaimed"
    LONG_TASK_TRANSITIONS.labels(row.kind, outcome).inc()
    logger.warning(
        "long task lease expired; %s",
        "attempts used up, failed" if outcome == "failed" else "back to pending",
        extra={
            "fields": {
                "task_id": row.id,
                "kind": row.kind,
                "attempt": row.attempts,
                "outcome": outcome,
            }
        },
    )
