"""One run of one claimed task: the handler under its lease, heartbeat, and the outcome.

Guarantees:
- The lease is renewed every `lease_seconds / 3` while the handler runs; when a renewal
  finds the lease gone, the handler is cancelled and nothing more is written.
- Exactly one outcome is recorded per run, through the fence: succeeded (or re-armed when
  recurring), retrying after backoff, failed, cancelled, or released (shutdown, attempt
  not counted). Every transition is logged with task_id, kind, attempt, duration and
  outcome, and counted in `aiw_long_task_transitions_total`.
- Cancellation (a cancel request, a lost lease, shutdown) only ever interrupts the
  handler, never the recording of its outcome.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.clock import Clock
from services.core.metrics import LONG_TASK_TRANSITIONS
from services.core.settings import Settings
from services.long_tasks import store
from services.long_tasks.context import TaskCancelled, TaskContext
from services.long_tasks.models import CANCELLED, FAILED, SUCCEEDED
from services.long_tasks.registry import Registry
from services.long_tasks.store import ClaimedTask, LeaseLost
from services.long_tasks.timing import backoff_delay, next_run

logger = logging.getLogger("ai_worker.long_tasks")

MAX_ERROR_CHARS = 4000
RELEASED = "released"
LEASE_LOST = "lease_lost"
NO_HANDLER_HINT = " (is its module listed in LONG_TASK_MODULES?)"


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


class Execution:
    """Runs `claimed` once; `start()` it, then `request_cancel()` or `shutdown()` if needed."""

    def __init__(
        self,
        claimed: ClaimedTask,
        *,
        sessions: async_sessionmaker[AsyncSession],
        config: RunnerConfig,
        handlers: Registry,
        resources: Mapping[str, Any],
        clock: Clock,
        rng: random.Random,
    ) -> None:
        self.claimed = claimed
        self.sessions = sessions
        self.config = config
        self.handlers = handlers
        self.clock = clock
        self.rng = rng
        self.context = TaskContext(
            lease=claimed.lease,
            kind=claimed.kind,
            attempt=claimed.attempts,
            max_attempts=claimed.max_attempts,
            checkpoint=claimed.checkpoint,
            sessions=sessions,
            resources=resources,
        )
        self.started = time.monotonic()
        self.task: asyncio.Task[None] | None = None
        self.cancel_requested = claimed.cancel_requested
        self.lease_lost = False
        self._in_handler = False

    @property
    def task_id(self) -> int:
        return self.claimed.lease.task_id

    def start(self, on_done: Callable[[Execution], None]) -> None:
        self.task = asyncio.create_task(self._run(), name=f"long-task-{self.task_id}")
        self.task.add_done_callback(lambda _task: on_done(self))

    def request_cancel(self) -> None:
        """The task was cancelled by a user: interrupt the handler; it ends `cancelled`."""
        if not self.cancel_requested:
            self.cancel_requested = True
            self.context.cancel_requested = True
            self._interrupt()

    def shutdown(self) -> None:
        """The worker is stopping: interrupt the handler; the task is released to pending."""
        self._interrupt()

    def _interrupt(self) -> None:
        if self._in_handler and self.task is not None:
            self.task.cancel()

    async def _run(self) -> None:
        self._log("long task started", "started")
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            outcome, result, error = await self._call_handler()
        finally:
            heartbeat.cancel()
        try:
            await self._record(outcome, result, error)
        except LeaseLost:
            self._log("long task lease lost; outcome dropped", LEASE_LOST, error=error)
        except Exception:
            logger.exception("long task %s: recording its outcome failed", self.task_id)

    async def _call_handler(self) -> tuple[str, Any, str | None]:
        """Run the handler; returns (outcome, result, error) and never raises."""
        spec = self.handlers.get(self.claimed.kind)
        if self.cancel_requested:
            return CANCELLED, None, None
        if spec is None:
            return (
                FAILED,
                None,
                f"no handler for kind {self.claimed.kind!r} in this worker" + NO_HANDLER_HINT,
            )
        self._in_handler = True
        try:
            async with asyncio.timeout(spec.timeout) as deadline:
                try:
                    result = await spec.handler(self.context, self.claimed.payload)
                except asyncio.CancelledError:
                    if deadline.expired():
                        raise  # becomes TimeoutError when the block exits
                    return self._after_interrupt(), None, None
            json.dumps(result, allow_nan=False)
        except TimeoutError as error:
            if deadline.expired():
                return FAILED, None, f"timed out after {spec.timeout}s"
            return FAILED, None, describe(error)
        except TaskCancelled:
            return CANCELLED, None, None
        except LeaseLost:
            return LEASE_LOST, None, None
        except Exception as error:
            return FAILED, None, describe(error)
        finally:
            self._in_handler = False
        if self.cancel_requested:
            return CANCELLED, None, None
        return SUCCEEDED, result, None

    def _after_interrupt(self) -> str:
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()  # handled here, so recording the outcome can await normally
        if self.cancel_requested:
            return CANCELLED
        if self.lease_lost:
            return LEASE_LOST
        return RELEASED

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.config.lease_seconds / 3)
            try:
                async with self.sessions() as session, session.begin():
                    cancelled = await store.renew(
                        session, self.claimed.lease, self.config.lease_seconds
                    )
            except LeaseLost:
                self.lease_lost = True
                self._interrupt()
                return
            except Exception as error:
                logger.warning("long task %s: heartbeat failed: %s", self.task_id, error)
                continue
            if cancelled:
                self.request_cancel()

    async def _record(self, outcome: str, result: Any, error: str | None) -> None:
        claimed, lease = self.claimed, self.claimed.lease
        if outcome == LEASE_LOST:
            self._log("long task lease lost; handler stopped", outcome)
            return
        rearm_at = None
        if claimed.schedule and outcome != CANCELLED:
            rearm_at = next_run(claimed.schedule, claimed.schedule_timezone or "UTC", self.clock())
        async with self.sessions() as session, session.begin():
            if outcome == RELEASED:
                await store.release(session, lease)
                self._log("long task released to pending (attempt not counted)", outcome)
                return
            if outcome == FAILED and claimed.attempts < claimed.max_attempts:
                delay = backoff_delay(
                    claimed.attempts,
                    base=self.config.retry_base_seconds,
                    cap=self.config.retry_max_seconds,
                    rng=self.rng,
                )
                await store.retry(session, lease, error or FAILED, delay)
                self._log(
                    "long task attempt failed; will retry",
                    "retrying",
                    level=logging.WARNING,
                    error=error,
                    retry_in=round(delay, 3),
                )
                return
            await store.finish(
                session, lease, outcome, result=result, error=error, rearm_at=rearm_at
            )
        suffix = f"; re-armed for {rearm_at.isoformat()}" if rearm_at else ""
        level = logging.WARNING if outcome == FAILED else logging.INFO
        self._log(f"long task {outcome}{suffix}", outcome, level=level, error=error)

    def _log(self, message: str, outcome: str, level: int = logging.INFO, **extra: Any) -> None:
        LONG_TASK_TRANSITIONS.labels(self.claimed.kind, outcome).inc()
        fields = {
            "task_id": self.task_id,
            "kind": self.claimed.kind,
            "attempt": self.claimed.attempts,
            "duration": round(time.monotonic() - self.started, 3),
            "outcome": outcome,
            **{k: v for k, v in extra.items() if v is not None},
        }
        logger.log(level, message, extra={"fields": fields})


def describe(error: BaseException) -> str:
    """`Type: message`, truncated: what `last_error` keeps."""
    return f"{type(error).__name__}: {error}"[:MAX_ERROR_CHARS]


def log_reclaimed(row: Any) -> None:
    """Log and count one row `store.reclaim_expired` changed."""
    outcome = FAILED if row.status == FAILED else "reclaimed"
    LONG_TASK_TRANSITIONS.labels(row.kind, outcome).inc()
    logger.warning(
        "long task lease expired; %s",
        "attempts used up, failed" if outcome == FAILED else "back to pending",
        extra={
            "fields": {
                "task_id": row.id,
                "kind": row.kind,
                "attempt": row.attempts,
                "outcome": outcome,
            }
        },
    )
