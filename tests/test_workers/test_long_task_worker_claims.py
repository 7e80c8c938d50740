"""Two real worker processes claiming concurrently from 1,000 due tasks."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import tests.support.long_task_handlers as handlers
from services.core.settings import Settings
from services.long_tasks.api import submit_task
from services.long_tasks.models import tasks
from tests.support.polling import wait_for
from tests.support.processes import WorkerProcess
from tests.support.services import worker_target

pytestmark = pytest.mark.slow
Sessions = async_sessionmaker[AsyncSession]
TASKS = 1000


async def test_two_workers_share_1000_tasks_without_running_one_twice(
    start_worker: Callable[..., WorkerProcess],
    db_sessions: Sessions,
    redis: Redis,
    settings: Settings,
) -> None:
    env = {
        "LONG_TASK_MODULES": "tests.support.long_task_handlers",
        "LONG_TASK_CONCURRENCY": "8",
        "LONG_TASK_LEASE_SECONDS": "5",
        "DB_POOL_SIZE": "10",
    }
    workers = [start_worker(worker_target("long_tasks"), env=env) for _ in range(2)]
    async with db_sessions() as session, session.begin():
        for i in range(TASKS):
            await submit_task(handlers.RECORD, {"i": i}, session=session)

    async def all_done() -> bool:
        async with db_sessions() as session:
            counts = dict(
                (
                    await session.execute(
                        sa.select(tasks.c.status, sa.func.count()).group_by(tasks.c.status)
                    )
                ).all()
            )
        return counts == {"succeeded": TASKS}

    await wait_for(all_done, timeout=60, interval=0.2, message="all tasks succeeded")
    prefix = settings.key_prefix
    runs = [int(x) for x in await redis.lrange(f"{prefix}lt:runs", 0, -1)]
    assert len(runs) == len(set(runs)) == TASKS  # each ran exactly once
    assert await redis.llen(f"{prefix}lt:overlaps") == 0
    async with db_sessions() as session:
        attempts = (await session.execute(sa.select(sa.func.max(tasks.c.attempts)))).scalar()
        pids = {
            row[0] for row in await session.execute(sa.select(tasks.c.result["pid"].as_integer()))
        }
    assert attempts == 1
    assert pids == {w.pid for w in workers}, "both workers claimed tasks"
