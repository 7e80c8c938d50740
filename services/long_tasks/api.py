"""What producers call to use the long_tasks subsystem.

    from services.long_tasks.api import submit_task, get_task, cancel_task

    task = await submit_task("report.build", {"report_id": 7}, idempotency_key="report-7")
    task = await get_task(task.id)
    await cancel_task(task.id)

Every function takes an optional `session`: given one, it runs inside the caller's
transaction (nothing is committed, and the runners are woken only if that transaction
commits); without one it opens its own session from `sessions` (or the process default)
and commits. A kind must be registered (`@long_task`) in the producer's process too: the
module defining it must be imported before `submit_task` accepts the kind.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.clock import Clock, utc_now
from services.core.db import session_scope
from services.core.metrics import LONG_TASK_TRANSITIONS
from services.long_tasks import builtin as _builtin  # noqa: F401 - registers built-in kinds
from services.long_tasks import store
from services.long_tasks.models import CANCELLED, PENDING, RUNNING, STATES, Task, tasks
from services.long_tasks.registry import Registry, registry
from services.long_tasks.timing import check_schedule, next_run

logger = logging.getLogger("ai_worker.long_tasks")

MAX_IDEMPOTENCY_KEY_LENGTH = 200


def _validate_payload(kind: str, payload: Any) -> None:
    if not isinstance(payload, dict):
        raise ValueError(
            f"payload of long task {kind!r} must be a JSON object (dict), "
            f"got {type(payload).__name__}"
        )
    try:
        json.dumps(payload, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"payload of long task {kind!r} is not JSON-serializable: {error}"
        ) from None


def _default_timezone() -> str:
    from services.core.settings import get_settings

    return get_settings().worker_timezone


async def submit_task(
    kind: str,
    payload: dict[str, Any],
    *,
    run_at: datetime | None = None,
    schedule: str | None = None,
    timezone: str | None = None,
    priority: int = 0,
    max_attempts: int | None = None,
    idempotency_key: str | None = None,
    session: AsyncSession | None = None,
    sessions: async_sessionmaker[AsyncSession] | None = None,
    handlers: Registry = registry,
    clock: Clock = utc_now,
) -> Task:
    """Create a pending task and wake the runners; returns its snapshot.

    - `run_at` (aware datetime): not before then; default now, or the schedule's next
      occurrence for a recurring task.
    - `schedule`: a cron expression; after each run the task is re-armed to its next
      occurrence in `timezone` (default `WORKER_TIMEZONE`).
    - `priority` (>= 0): higher runs first among due tasks.
    - `max_attempts`: default the kind's (`@long_task(max_attempts=...)`).
    - `idempotency_key`: when a task with this key exists, it is returned unchanged and
      nothing is created (also under concurrent submits).

    Raises `ValueError` naming the problem: unknown kind, payload not a JSON object, bad
    cron expression or timezone, negative priority, naive `run_at`, bad max_attempts or key.
    """
    spec = handlers.require(kind)
    _validate_payload(kind, payload)
    if isinstance(priority, bool) or not isinstance(priority, int) or priority < 0:
        raise ValueError(f"priority must be a non-negative integer, got {priority!r}")
    attempts = spec.max_attempts if max_attempts is None else max_attempts
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise ValueError(f"max_attempts must be a positive integer, got {max_attempts!r}")
    if run_at is not None and (not isinstance(run_at, datetime) or run_at.tzinfo is None):
        raise ValueError(f"run_at must be a timezone-aware datetime, got {run_at!r}")
    if idempotency_key is not None and (
        not isinstance(idempotency_key, str)
        or not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY_LENGTH
    ):
        raise ValueError(
            f"idempotency_key must be a string of 1-{MAX_IDEMPOTENCY_KEY_LENGTH} characters"
        )
    zone = None
    if schedule is not None:
        zone = timezone or _default_timezone()
        check_schedule(schedule, zone)
        if run_at is None:
            run_at = next_run(schedule, zone, clock())
    elif timezone is not None:
        raise ValueError("timezone is only meaningful with a schedule")

    values: dict[str, Any] = {
        "kind": kind,
        "payload": payload,
        "priority": priority,
        "max_attempts": attempts,
        "schedule": schedule,
        "schedule_timezone": zone,
        "idempotency_key": idempotency_key,
    }
    if run_at is not None:
        values["run_at"] = run_at
    statement = insert(tasks).values(**values)
    if idempotency_key is not None:
        statement = statement.on_conflict_do_nothing(
            index_elements=[tasks.c.idempotency_key],
            index_where=tasks.c.idempotency_key.is_not(None),
        )
    async with session_scope(session, sessions) as active:
        row = (await active.execute(statement.returning(*tasks.c))).one_or_none()
        if row is None:
            existing = await active.execute(
                sa.select(tasks).where(tasks.c.idempotency_key == idempotency_key)
            )
            return Task.from_row(existing.one())
        await store.notify(active)
        task = Task.from_row(row)
    _log_transition(task, "long task submitted", "submitted")
    return task


def _log_transition(task: Task, message: str, outcome: str) -> None:
    LONG_TASK_TRANSITIONS.labels(task.kind, outcome).inc()
    fields = {"task_id": task.id, "kind": task.kind, "attempt": task.attempts, "outcome": outcome}
    logger.info(message, extra={"fields": fields})


async def get_task(
    task_id: int,
    *,
    session: AsyncSession | None = None,
    sessions: async_sessionmaker[AsyncSession] | None = None,
) -> Task | None:
    """The task's current snapshot, or None when no such task exists."""
    async with session_scope(session, sessions) as active:
        row = (await active.execute(sa.select(tasks).where(tasks.c.id == task_id))).one_or_none()
    return None if row is None else Task.from_row(row)


async def list_tasks(
    *,
    status: str | None = None,
    kind: str | None = None,
    limit: int = 100,
    offset: int = 0,
    session: AsyncSession | None = None,
    sessions: async_sessionmaker[AsyncSession] | None = None,
) -> list[Task]:
    """Tasks filtered by `status` and/or `kind`, newest first, paged by `limit`/`offset`.

    Raises `ValueError` for an unknown status or a limit outside 1..1000.
    """
    if status is not None and status not in STATES:
        raise ValueError(f"unknown status {status!r}: expected one of {', '.join(STATES)}")
    if not 1 <= limit <= 1000 or offset < 0:
        raise ValueError("limit must be within 1..1000 and offset non-negative")
    query = sa.select(tasks).order_by(tasks.c.id.desc()).limit(limit).offset(offset)
    if status is not None:
        query = query.where(tasks.c.status == status)
    if kind is not None:
        query = query.where(tasks.c.kind == kind)
    async with session_scope(session, sessions) as active:
        rows = (await active.execute(query)).all()
    return [Task.from_row(row) for row in rows]


async def cancel_task(
    task_id: int,
    *,
    session: AsyncSession | None = None,
    sessions: async_sessionmaker[AsyncSession] | None = None,
) -> Task | None:
    """Cancel a task; returns its snapshot (None when it does not exist).

    Pending: cancelled at once (a recurring task stops recurring). Running: the cancel is
    recorded and its worker is told; the handler is cancelled and the task ends
    `cancelled` (unless it finished first). A finished task is returned unchanged.
    Idempotent.
    """
    async with session_scope(session, sessions) as active:
        pending = await active.execute(
            tasks.update()
            .where(tasks.c.id == task_id, tasks.c.status == PENDING)
            .values(
                status=CANCELLED,
                cancel_requested=True,
                finished_at=sa.func.now(),
                updated_at=sa.func.now(),
            )
            .returning(*tasks.c)
        )
        row = pending.one_or_none()
        if row is not None:
            _log_transition(Task.from_row(row), "long task cancelled while pending", "cancelled")
        else:
            running = await active.execute(
                tasks.update()
                .where(tasks.c.id == task_id, tasks.c.status == RUNNING)
                .values(cancel_requested=True, updated_at=sa.func.now())
                .returning(*tasks.c)
            )
            row = running.one_or_none()
            if row is not None:
                await store.notify(active, f"cancel:{task_id}")
        if row is None:
            found = await active.execute(sa.select(tasks).where(tasks.c.id == task_id))
            row = found.one_or_none()
    return None if row is None else Task.from_row(row)
