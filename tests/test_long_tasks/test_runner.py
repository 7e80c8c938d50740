"""The in-process runner against the real database: outcomes, retries, timeouts, cancels."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.settings import Settings
from services.long_tasks.api import cancel_task, get_task, submit_task
from services.long_tasks.builtin import NOOP, SLEEP
from services.long_tasks.runner import Runner
from tests.support import long_task_handlers as handlers
from tests.support.polling import wait_for

Sessions = async_sessionmaker[AsyncSession]


async def effects(redis: Redis, settings: Settings, task_id: int) -> list[str]:
    raw = await redis.lrange(handlers.effects_key(settings.key_prefix, task_id), 0, -1)
    return [item.decode() for item in raw]


async def test_submit_run_result(
    db_sessions: Sessions, make_runner: Callable[..., Runner], task_in: Any
) -> None:
    make_runner()
    task = await submit_task(NOOP, {"hello": "世界"}, sessions=db_sessions)
    done = await task_in(task.id, "succeeded", "failed")
    assert done.status == "succeeded"
    assert done.result == {"echo": {"hello": "世界"}}
    assert (done.attempts, done.progress, done.lease_owner) == (1, 1.0, None)
    assert done.started_at is not None and done.finished_at is not None


async def test_checkpoints_and_progress_are_saved(
    db_sessions: Sessions, make_runner: Callable[..., Runner], task_in: Any
) -> None:
    make_runner()
    task = await submit_task(SLEEP, {"seconds": 0.2, "steps": 4}, sessions=db_sessions)
    done = await task_in(task.id, "succeeded", "failed")
    assert done.result == {"steps": 4, "resumed_from": 0}
    assert done.checkpoint == {"step": 4}
    assert done.progress_message == "step 4 of 4"


async def test_retry_with_backoff_then_failure(
    db_sessions: Sessions,
    make_runner: Callable[..., Runner],
    task_in: Any,
    redis: Redis,
    settings: Settings,
) -> None:
    make_runner()  # retry base 0.2 s: waits in [0.1, 0.2], then [0.2, 0.4]
    task = await submit_task(handlers.FAIL, {}, sessions=db_sessions)
    done = await task_in(task.id, "failed")
    assert done.attempts == 3
    assert done.last_error == "RuntimeError: boom on attempt 3"
    times = [float(t) for t in await effects(redis, settings, task.id)]
    assert len(times) == 3
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[0] >= 0.1 and gaps[1] >= 0.2, gaps


async def test_timeout_fails_the_attempt(
    db_sessions: Sessions, make_runner: Callable[..., Runner], task_in: Any
) -> None:
    make_runner()
    task = await submit_task(handlers.SLOW, {}, sessions=db_sessions)
    done = await task_in(task.id, "failed")
    assert done.last_error == "timed out after 0.3s"
    assert done.attempts == 1


async def test_cancel_running_reaches_the_handler(
    db_sessions: Sessions,
    make_runner: Callable[..., Runner],
    task_in: Any,
    redis: Redis,
    settings: Settings,
) -> None:
    runner = make_runner()
    task = await submit_task(
        handlers.STEPS, {"steps": 200, "step_seconds": 0.05}, sessions=db_sessions
    )
    await task_in(task.id, "running")
    requested = await cancel_task(task.id, sessions=db_sessions)
    assert requested is not None and requested.cancel_requested
    done = await task_in(task.id, "cancelled")
    assert done.finished_at is not None and done.lease_owner is None
    assert (await effects(redis, settings, task.id))[-1] == "cancelled"
    await wait_for(lambda: _idle(runner), message="runner idle")


async def _idle(runner: Runner) -> bool:
    return not runner.runs


async def test_recurring_task_is_rearmed(
    db_sessions: Sessions, make_runner: Callable[..., Runner], task_in: Any
) -> None:
    make_runner()
    now = datetime.now(UTC)
    task = await submit_task(
        NOOP, {"r": 1}, schedule="*/10 * * * *", timezone="UTC", run_at=now, sessions=db_sessions
    )

    async def rearmed() -> Any:
        current = await get_task(task.id, sessions=db_sessions)
        return current if current is not None and current.finished_at is not None else None

    current = await wait_for(rearmed, message="first run finished")
    assert current.status == "pending"
    assert current.result == {"echo": {"r": 1}}
    assert current.attempts == 0 and current.lease_owner is None
    assert current.run_at > now and current.run_at.minute % 10 == 0
    assert current.run_at.second == 0


async def test_poisoned_payload_fails_only_that_task(
    db_sessions: Sessions, make_runner: Callable[..., Runner], task_in: Any
) -> None:
    make_runner()
    good = [
        (await submit_task(handlers.POISON, {"value": i}, sessions=db_sessions)).id
        for i in range(3)
    ]
    bad = await submit_task(handlers.POISON, {"poison": True}, sessions=db_sessions)
    failed = await task_in(bad.id, "failed")
    assert failed.last_error == "ValueError: poisoned payload"
    for i, task_id in enumerate(good):
        done = await task_in(task_id, "succeeded")
        assert done.result == {"value": i}
    later = await submit_task(handlers.POISON, {"value": 9}, sessions=db_sessions)
    assert (await task_in(later.id, "succeeded")).result == {"value": 9}


async def test_priority_orders_claims(
    db_sessions: Sessions, make_runner: Callable[..., Runner], task_in: Any
) -> None:
    low = await submit_task(NOOP, {}, priority=0, sessions=db_sessions)
    high = await submit_task(NOOP, {}, priority=5, sessions=db_sessions)
    make_runner()
    first, second = await task_in(high.id, "succeeded"), await task_in(low.id, "succeeded")
    assert first.started_at is not None and second.started_at is not None
    assert first.started_at <= second.started_at


async def test_delayed_task_starts_on_time_without_the_minute_poll(
    db_sessions: Sessions, make_runner: Callable[..., Runner], task_in: Any
) -> None:
    make_runner()
    run_at = datetime.fromtimestamp(datetime.now(UTC).timestamp() + 1.5, UTC)
    task = await submit_task(NOOP, {}, run_at=run_at, sessions=db_sessions)
    done = await task_in(task.id, "succeeded", timeout=10)
    assert done.started_at is not None
    lag = (done.started_at - run_at).total_seconds()
    assert 0 <= lag < 1.0, lag


async def test_shutdown_releases_running_task_without_counting(
    db_sessions: Sessions, make_runner: Callable[..., Runner], task_in: Any
) -> None:
    runner = make_runner()
    task = await submit_task(
        handlers.STEPS, {"steps": 200, "step_seconds": 0.05}, sessions=db_sessions
    )

    async def checkpointed() -> bool:
        current = await get_task(task.id, sessions=db_sessions)
        return current is not None and (current.checkpoint or {}).get("step", 0) >= 2

    await wait_for(checkpointed, message="two steps checkpointed")
    await runner.stop()
    released = await get_task(task.id, sessions=db_sessions)
    assert released is not None
    assert (released.status, released.attempts, released.lease_owner) == ("pending", 0, None)
    assert released.checkpoint["step"] >= 2
    assert released.lease_attempt == 1


async def test_kind_without_handler_in_this_worker_fails_with_a_hint(
    db_sessions: Sessions, make_runner: Callable[..., Runner], task_in: Any
) -> None:
    from services.long_tasks.registry import Registry

    make_runner(handlers=Registry())
    task = await submit_task(NOOP, {}, max_attempts=1, sessions=db_sessions)
    failed = await task_in(task.id, "failed")
    assert failed.last_error is not None and "LONG_TASK_MODULES" in failed.last_error


async def test_task_cancelled_while_its_worker_was_dead_ends_cancelled(
    db_sessions: Sessions, make_runner: Callable[..., Runner], task_in: Any
) -> None:
    import sqlalchemy as sa

    from services.long_tasks import store
    from services.long_tasks.models import tasks

    task = await submit_task(NOOP, {}, max_attempts=3, sessions=db_sessions)
    async with db_sessions() as session, session.begin():
        await store.claim(session, "dead-worker", 1, 30)
    await cancel_task(task.id, sessions=db_sessions)  # recorded; nobody is listening
    async with db_sessions() as session, session.begin():
        await session.execute(
            tasks.update().values(lease_expires_at=sa.func.now() - sa.text("interval '1 s'"))
        )
    make_runner()  # reclaims the expired lease, claims, sees the cancel request
    done = await task_in(task.id, "cancelled")
    assert done.result is None and done.attempts == 2
