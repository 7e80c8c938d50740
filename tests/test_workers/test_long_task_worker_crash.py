"""Real worker processes killed mid-task: SIGKILL (lease expiry, resume from checkpoint,
counted) and SIGTERM (released at once, not counted), in the mode's worker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import tests.support.long_task_handlers as handlers
from services.core.settings import Settings
from services.long_tasks import store
from services.long_tasks.api import get_task, submit_task
from services.long_tasks.models import Task
from services.long_tasks.store import Lease, LeaseLost
from tests.support.polling import wait_for
from tests.support.processes import WorkerProcess
from tests.support.services import worker_target

pytestmark = pytest.mark.slow
Sessions = async_sessionmaker[AsyncSession]
LONG_TASK_ENV = {
    "LONG_TASK_MODULES": "tests.support.long_task_handlers",
    "LONG_TASK_LEASE_SECONDS": "2",
    "LONG_TASK_SHUTDOWN_GRACE": "0.5",
    "LONG_TASK_RETRY_BASE_SECONDS": "0.2",
}


async def wait_task(
    sessions: Sessions, task_id: int, check: Callable[[Task], bool], what: str, timeout: float = 15
) -> Task:
    async def reached() -> Task | None:
        task = await get_task(task_id, sessions=sessions)
        return task if task is not None and check(task) else None

    return await wait_for(reached, timeout=timeout, message=what)


def step_of(task: Task) -> int:
    return int((task.checkpoint or {}).get("step", 0))


async def effects(redis: Redis, settings: Settings, task_id: int) -> list[str]:
    raw = await redis.lrange(handlers.effects_key(settings.key_prefix, task_id), 0, -1)
    return [item.decode() for item in raw]


async def test_sigkill_resumes_from_checkpoint_once_and_fences_the_dead_attempt(
    start_worker: Callable[..., WorkerProcess],
    db_sessions: Sessions,
    redis: Redis,
    settings: Settings,
) -> None:
    first = start_worker(worker_target("long_tasks"), env=LONG_TASK_ENV)
    task = await submit_task(
        handlers.STEPS, {"steps": 8, "step_seconds": 0.25}, sessions=db_sessions
    )
    running = await wait_task(db_sessions, task.id, lambda t: step_of(t) >= 2, "2 checkpoints")
    assert running.status == "running" and running.lease_owner is not None
    dead_lease = Lease(task.id, running.lease_owner, running.lease_attempt)
    first.kill()

    start_worker(worker_target("long_tasks"), env=LONG_TASK_ENV)
    done = await wait_task(db_sessions, task.id, lambda t: t.done, "task finished")
    assert done.status == "succeeded", done.last_error
    assert done.attempts == 2  # the killed attempt counted
    assert done.result["resumed_from"] >= 2
    log = await effects(redis, settings, task.id)
    assert log.count("done") == 1, log
    assert [e for e in log if e.startswith("attempt:")][1].startswith(
        f"attempt:2:from:{done.result['resumed_from']}:"
    )
    for step in range(8):  # every step ran; at most the one in flight at the kill twice
        assert 1 <= log.count(f"step:{step}") <= (2 if step == done.result["resumed_from"] else 1)

    # The killed attempt's late writes are refused by the fence and change nothing.
    for write in (
        lambda s: store.save_checkpoint(s, dead_lease, {"step": 0}),
        lambda s: store.finish(s, dead_lease, "failed", error="late"),
    ):
        with pytest.raises(LeaseLost):
            async with db_sessions() as session, session.begin():
                await write(session)
    after = await get_task(task.id, sessions=db_sessions)
    assert after == done


async def test_sigterm_releases_running_task_uncounted_and_next_worker_resumes(
    start_worker: Callable[..., WorkerProcess],
    db_sessions: Sessions,
    redis: Redis,
    settings: Settings,
) -> None:
    first = start_worker(worker_target("long_tasks"), env=LONG_TASK_ENV)
    task = await submit_task(
        handlers.STEPS, {"steps": 30, "step_seconds": 0.1}, sessions=db_sessions
    )
    await wait_task(db_sessions, task.id, lambda t: step_of(t) >= 2, "2 checkpoints")
    assert first.stop(timeout=20) == 0, first.output()
    assert "released to pending" in first.output()

    released = await get_task(task.id, sessions=db_sessions)
    assert released is not None
    assert (released.status, released.attempts, released.lease_owner) == ("pending", 0, None)
    assert step_of(released) >= 2
    assert (await effects(redis, settings, task.id))[-1] == "cancelled"

    start_worker(worker_target("long_tasks"), env=LONG_TASK_ENV)
    done = await wait_task(db_sessions, task.id, lambda t: t.done, "task finished")
    assert done.status == "succeeded", done.last_error
    assert done.attempts == 1  # the released run was not counted
    assert done.result["resumed_from"] == step_of(released)
    assert (await effects(redis, settings, task.id)).count("done") == 1


async def test_idle_worker_starts_a_submitted_task_within_a_second(
    start_worker: Callable[..., WorkerProcess], db_sessions: Sessions
) -> None:
    worker = start_worker(worker_target("long_tasks"), env=LONG_TASK_ENV)
    await wait_for(
        _async(lambda: "long-task listener connected" in worker.output()), message="listener"
    )
    task = await submit_task("builtin.noop", {"x": 1}, sessions=db_sessions)
    done = await wait_task(db_sessions, task.id, lambda t: t.done, "task finished", timeout=5)
    assert done.status == "succeeded" and done.started_at is not None
    assert (done.started_at - done.created_at).total_seconds() < 1.0


def _async(check: Callable[[], Any]) -> Callable[[], Any]:
    async def run() -> Any:
        return check()

    return run
