"""SQL for the task lifecycle: claiming, fenced writes, releases and lease reclamation.

Guarantees:
- `claim` uses ``FOR UPDATE SKIP LOCKED``: concurrent claimers (any number of workers)
  never receive the same task, and never wait on each other's rows.
- A claim bumps the task's `lease_attempt`, the fencing token. Every later write of a
  running task (`renew`, `save_checkpoint`, `set_progress`, `finish`, `retry`, `release`)
  matches ``status = 'running' AND lease_owner AND lease_attempt``; when it matches no row
  the lease was lost (expired and reclaimed, or cancelled), `LeaseLost` is raised and
  nothing was written. A worker that lost its lease can never overwrite the new owner.
- `reclaim_expired` is idempotent: it only touches running rows whose lease has expired.
Times come from the database clock (``now()``), shared by every worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.long_tasks.models import (
    CANCELLED,
    FAILED,
    NOTIFY_CHANNEL,
    PENDING,
    RUNNING,
    SUCCEEDED,
    tasks,
)
from services.long_tasks.timing import next_run


class LeaseLost(Exception):
    """A fenced write matched no row: this worker no longer owns the task's lease."""


@dataclass(frozen=True)
class Lease:
    """The fence of one claimed run: task id, owner and the attempt token."""

    task_id: int
    owner: str
    token: int


@dataclass(frozen=True)
class ClaimedTask:
    """What a claim hands the runner."""

    lease: Lease
    kind: str
    payload: dict[str, Any]
    checkpoint: Any
    attempts: int
    max_attempts: int
    schedule: str | None
    schedule_timezone: str | None
    cancel_requested: bool


CLAIM_SQL = sa.text(
    """
    WITH due AS (
        SELECT id FROM long_tasks
        WHERE status = 'pending' AND run_at <= now()
        ORDER BY priority DESC, run_at, id
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    )
    UPDATE long_tasks AS t
    SET status = 'running',
        attempts = t.attempts + 1,
        lease_attempt = t.lease_attempt + 1,
        lease_owner = :owner,
        lease_expires_at = now() + make_interval(secs => :lease_seconds),
        heartbeat_at = now(),
        started_at = now(),
        updated_at = now()
    FROM due
    WHERE t.id = due.id
    RETURNING t.id, t.kind, t.payload, t.checkpoint, t.attempts, t.max_attempts,
              t.lease_attempt, t.schedule, t.schedule_timezone, t.cancel_requested
    """
)


async def claim(
    session: AsyncSession, owner: str, limit: int, lease_seconds: float
) -> list[ClaimedTask]:
    """Claim up to `limit` due pending tasks (highest priority, then oldest run_at) for `owner`.

    Each claimed task becomes running with a fresh lease and its attempt counted.
    """
    if limit <= 0:
        return []
    rows = await session.execute(
        CLAIM_SQL, {"limit": limit, "owner": owner, "lease_seconds": lease_seconds}
    )
    return [
        ClaimedTask(
            lease=Lease(row.id, owner, row.lease_attempt),
            kind=row.kind,
            payload=row.payload,
            checkpoint=row.checkpoint,
            attempts=row.attempts,
            max_attempts=row.max_attempts,
            schedule=row.schedule,
            schedule_timezone=row.schedule_timezone,
            cancel_requested=row.cancel_requested,
        )
        for row in rows
    ]


def _fenced(lease: Lease) -> Any:
    return sa.and_(
        tasks.c.id == lease.task_id,
        tasks.c.status == RUNNING,
        tasks.c.lease_owner == lease.owner,
        tasks.c.lease_attempt == lease.token,
    )


async def _fenced_update(session: AsyncSession, lease: Lease, **values: Any) -> bool:
    """Apply `values` under the fence; returns the task's cancel request; raises `LeaseLost`."""
    statement = (
        tasks.update()
        .where(_fenced(lease))
        .values(updated_at=sa.func.now(), **values)
        .returning(tasks.c.cancel_requested)
    )
    cancel_requested = (await session.execute(statement)).scalar_one_or_none()
    if cancel_requested is None:
        raise LeaseLost(
            f"task {lease.task_id}: lease {lease.owner}#{lease.token} is no longer held"
        )
    return bool(cancel_requested)


def _expiry(lease_seconds: float) -> Any:
    return sa.func.now() + sa.func.make_interval(0, 0, 0, 0, 0, 0, lease_seconds)


async def renew(session: AsyncSession, lease: Lease, lease_seconds: float) -> bool:
    """Extend the lease by `lease_seconds` from now (the heartbeat); returns the cancel request."""
    return await _fenced_update(
        session, lease, lease_expires_at=_expiry(lease_seconds), heartbeat_at=sa.func.now()
    )


async def save_checkpoint(session: AsyncSession, lease: Lease, state: Any) -> bool:
    """Store the handler's resumable state; returns the cancel request."""
    return await _fenced_update(session, lease, checkpoint=state, heartbeat_at=sa.func.now())


async def set_progress(
    session: AsyncSession, lease: Lease, fraction: float, message: str | None
) -> bool:
    """Store progress (0..1) and a message; returns the cancel request."""
    return await _fenced_update(session, lease, progress=fraction, progress_message=message)


async def finish(
    session: AsyncSession,
    lease: Lease,
    status: str,
    *,
    result: Any = None,
    error: str | None = None,
    rearm_at: datetime | None = None,
) -> None:
    """End the run: `succeeded`, `failed` or `cancelled`.

    With `rearm_at` (a recurring task; ignored for `cancelled`) the task instead goes back
    to pending at that time with attempts and checkpoint reset; result and error are kept.
    """
    assert status in (SUCCEEDED, FAILED, CANCELLED)
    values: dict[str, Any] = {"last_error": error, "lease_owner": None, "lease_expires_at": None}
    if status == SUCCEEDED:
        values.update(result=result, progress=1.0)
    if rearm_at is not None and status != CANCELLED:
        values.update(
            status=PENDING, run_at=rearm_at, attempts=0, checkpoint=None, finished_at=sa.func.now()
        )
    else:
        values.update(status=status, finished_at=sa.func.now())
    await _fenced_update(session, lease, **values)


async def retry(session: AsyncSession, lease: Lease, error: str, delay_seconds: float) -> None:
    """A failed attempt with attempts left: pending again after `delay_seconds`, checkpoint kept."""
    run_at = sa.func.now() + sa.func.make_interval(0, 0, 0, 0, 0, 0, delay_seconds)
    await _fenced_update(
        session,
        lease,
        status=PENDING,
        run_at=run_at,
        last_error=error,
        lease_owner=None,
        lease_expires_at=None,
    )


async def release(session: AsyncSession, lease: Lease) -> None:
    """Give the task back (shutdown): pending at once, this attempt not counted, checkpoint kept."""
    await _fenced_update(
        session,
        lease,
        status=PENDING,
        run_at=sa.func.now(),
        attempts=tasks.c.attempts - 1,
        lease_owner=None,
        lease_expires_at=None,
    )


RECLAIM_SQL = sa.text(
    """
    WITH expired AS (
        SELECT id FROM long_tasks
        WHERE status = 'running' AND lease_expires_at < now()
        ORDER BY lease_expires_at
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    )
    UPDATE long_tasks AS t
    SET status = CASE WHEN t.attempts >= t.max_attempts THEN 'failed' ELSE 'pending' END,
        finished_at = CASE WHEN t.attempts >= t.max_attempts THEN now() END,
        last_error = 'lease of ' || t.lease_owner || ' expired during attempt ' || t.attempts,
        run_at = now(),
        lease_owner = NULL,
        lease_expires_at = NULL,
        updated_at = now()
    FROM expired
    WHERE t.id = expired.id
    RETURNING t.id, t.kind, t.status, t.attempts, t.schedule, t.schedule_timezone
    """
)


async def reclaim_expired(session: AsyncSession, limit: int = 1000) -> list[Any]:
    """Running tasks whose lease expired (their worker died): back to pending, checkpoint kept,
    the lost attempt counted; `failed` when it was the last attempt, except that a recurring
    task is then re-armed for its next occurrence. Idempotent.

    Returns the changed rows (id, kind, status, attempts, schedule, schedule_timezone).
    """
    rows = list(await session.execute(RECLAIM_SQL, {"limit": limit}))
    for row in rows:
        if row.status == FAILED and row.schedule:
            when = next_run(row.schedule, row.schedule_timezone or "UTC", datetime.now(UTC))
            await rearm_failed(session, row.id, when)
    return rows


async def rearm_failed(session: AsyncSession, task_id: int, run_at: datetime) -> bool:
    """Re-arm a recurring task that just failed outright (e.g. its last attempt was lost to
    a crash) for its next occurrence: pending, attempts and checkpoint reset, error kept."""
    result = await session.execute(
        tasks.update()
        .where(tasks.c.id == task_id, tasks.c.status == FAILED, tasks.c.schedule.is_not(None))
        .values(
            status=PENDING, run_at=run_at, attempts=0, checkpoint=None, updated_at=sa.func.now()
        )
        .returning(tasks.c.id)
    )
    return result.first() is not None


async def notify(session: AsyncSession, message: str = "wake") -> None:
    """NOTIFY the runners; delivered only when (and if) the session's transaction commits."""
    await session.execute(sa.select(sa.func.pg_notify(NOTIFY_CHANNEL, message)))


NEXT_EVENTS_SQL = sa.text(
    """
    SELECT extract(epoch FROM
               (SELECT min(run_at) FROM long_tasks WHERE status = 'pending') - now()),
           extract(epoch FROM
               (SELECT min(lease_expires_at) FROM long_tasks WHERE status = 'running') - now())
    """
)


async def seconds_until_next_events(session: AsyncSession) -> tuple[float | None, float | None]:
    """Seconds until the earliest pending `run_at` and the earliest running lease expiry.

    Each is None when there is no such task, and <= 0 when it is already due / expired.
    """
    row = (await session.execute(NEXT_EVENTS_SQL)).one()
    return (
        None if row[0] is None else float(row[0]),
        None if row[1] is None else float(row[1]),
    )


async def counts_by_state(session: AsyncSession) -> dict[str, int]:
    """Number of tasks in each state."""
    rows = await session.execute(
        sa.select(tasks.c.status, sa.func.count()).group_by(tasks.c.status)
    )
    return {str(row[0]): int(row[1]) for row in rows}
