"""The store: claims never overlap, fenced writes refuse a lost lease, reclaim is idempotent."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.blueprint import Ctx
from services.long_tasks import store
from services.long_tasks.api import get_task, submit_task
from services.long_tasks.builtin import NOOP
from services.long_tasks.jobs import long_tasks_poll
from services.long_tasks.models import tasks
from services.long_tasks.store import LeaseLost

Sessions = async_sessionmaker[AsyncSession]


async def claim(sessions: Sessions, owner: str, limit: int = 1, lease: float = 30) -> list[Any]:
    async with sessions() as session, session.begin():
        return await store.claim(session, owner, limit, lease)


async def expire_leases(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        await session.execute(
            tasks.update()
            .where(tasks.c.status == "running")
            .values(lease_expires_at=sa.func.now() - sa.text("interval '1 second'"))
        )


async def write(sessions: Sessions, operation: Any, *args: Any, **kwargs: Any) -> Any:
    async with sessions() as session, session.begin():
        return await operation(session, *args, **kwargs)


async def test_fence_refuses_writes_after_the_lease_moved(db_sessions: Sessions) -> None:
    task = await submit_task(NOOP, {}, max_attempts=3, sessions=db_sessions)
    (old,) = await claim(db_sessions, "worker-a")
    await write(db_sessions, store.save_checkpoint, old.lease, {"step": 1})
    await expire_leases(db_sessions)
    assert len(await write(db_sessions, store.reclaim_expired)) == 1
    (new,) = await claim(db_sessions, "worker-b")
    assert new.lease.token == old.lease.token + 1 and new.checkpoint == {"step": 1}
    assert new.attempts == 2  # the lost attempt counted

    # Every late write of the old owner is refused and changes nothing.
    late_writes = [
        (store.save_checkpoint, ({"step": 99},), {}),
        (store.set_progress, (0.9, "late"), {}),
        (store.renew, (30,), {}),
        (store.finish, ("succeeded",), {"result": {"late": True}}),
        (store.retry, ("late error", 0), {}),
        (store.release, (), {}),
    ]
    for operation, args, kwargs in late_writes:
        with pytest.raises(LeaseLost):
            await write(db_sessions, operation, old.lease, *args, **kwargs)
    # Same owner name but the old attempt token: refused too.
    stale = store.Lease(task.id, "worker-b", old.lease.token)
    with pytest.raises(LeaseLost):
        await write(db_sessions, store.save_checkpoint, stale, {"step": 98})

    current = await get_task(task.id, sessions=db_sessions)
    assert current is not None
    assert (current.status, current.lease_owner, current.checkpoint) == (
        "running",
        "worker-b",
        {"step": 1},
    )
    assert current.progress is None and current.result is None
    await write(db_sessions, store.finish, new.lease, "succeeded", result={"ok": 1})
    done = await get_task(task.id, sessions=db_sessions)
    assert done is not None and (done.status, done.result) == ("succeeded", {"ok": 1})


async def test_concurrent_claims_never_overlap(db_sessions: Sessions) -> None:
    async with db_sessions() as session, session.begin():
        await session.execute(
            sa.text(
                "INSERT INTO long_tasks (kind, payload) "
                "SELECT 'builtin.noop', '{}'::jsonb FROM generate_series(1, 300)"
            )
        )
    results = await asyncio.gather(*(claim(db_sessions, f"w{i}", limit=40) for i in range(10)))
    ids = [c.lease.task_id for batch in results for c in batch]
    assert len(ids) == len(set(ids)) == 300


async def test_reclaim_fails_a_task_with_no_attempts_left_and_is_idempotent(
    db_sessions: Sessions,
) -> None:
    task = await submit_task(NOOP, {}, max_attempts=1, sessions=db_sessions)
    await claim(db_sessions, "worker-a")
    await expire_leases(db_sessions)
    ctx: Ctx = {"db_sessions": db_sessions}
    first = await long_tasks_poll(ctx)
    second = await long_tasks_poll(ctx)
    assert (first["reclaimed"], second["reclaimed"]) == (1, 0)
    assert second["by_state"] == {"failed": 1}
    failed = await get_task(task.id, sessions=db_sessions)
    assert failed is not None and failed.status == "failed"
    assert failed.last_error is not None and "lease of worker-a expired" in failed.last_error


async def test_claim_skips_future_and_cancelled_tasks(db_sessions: Sessions) -> None:
    from datetime import UTC, datetime, timedelta

    later = datetime.now(UTC) + timedelta(minutes=5)
    await submit_task(NOOP, {}, run_at=later, sessions=db_sessions)
    due = await submit_task(NOOP, {}, sessions=db_sessions)
    assert [c.lease.task_id for c in await claim(db_sessions, "w", limit=10)] == [due.id]
    assert await claim(db_sessions, "w", limit=10) == []


async def test_recurring_task_keeps_recurring_when_a_crash_takes_its_last_attempt(
    db_sessions: Sessions,
) -> None:
    task = await submit_task(NOOP, {}, schedule="0 3 * * *", max_attempts=1, sessions=db_sessions)
    async with db_sessions() as session, session.begin():
        # make it due now, as if 03:00 had come
        await session.execute(
            tasks.update().where(tasks.c.id == task.id).values(run_at=sa.func.now())
        )
    await claim(db_sessions, "worker-a")
    await expire_leases(db_sessions)
    result = await long_tasks_poll({"db_sessions": db_sessions})
    assert result["reclaimed"] == 1
    rearmed = await get_task(task.id, sessions=db_sessions)
    assert rearmed is not None and rearmed.status == "pending" and rearmed.attempts == 0
    assert rearmed.run_at > task.created_at and (rearmed.run_at.hour, rearmed.run_at.minute) == (
        3,
        0,
    )
    assert rearmed.last_error is not None and "expired" in rearmed.last_error
