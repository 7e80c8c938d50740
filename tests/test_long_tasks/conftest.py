"""Fixtures: an in-process `Runner` on the test database, with the test handlers loaded."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import tests.support.long_task_handlers  # noqa: F401 - registers the test kinds
from services.core.settings import Settings
from services.long_tasks.api import get_task
from services.long_tasks.models import Task
from services.long_tasks.runner import Runner, RunnerConfig
from tests.support.polling import wait_for

FAST = RunnerConfig(
    concurrency=4,
    lease_seconds=2.0,
    shutdown_grace=0.5,
    retry_base_seconds=0.2,
    retry_max_seconds=5.0,
)


def listen_dsn(settings: Settings) -> str:
    return settings.sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


@pytest.fixture
async def make_runner(
    settings: Settings, redis: Redis, db_sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[Callable[..., Runner]]:
    """Start runners in this test's event loop; all are stopped after the test."""
    runners: list[Runner] = []

    def make(config: RunnerConfig = FAST, **kwargs: Any) -> Runner:
        runner = Runner(
            sessions=db_sessions,
            owner=f"test-runner-{uuid.uuid4().hex[:6]}",
            config=config,
            listen_dsn=listen_dsn(settings),
            resources={"settings": settings, "redis": redis},
            rng=random.Random(7),
            **kwargs,
        )
        runner.start()
        runners.append(runner)
        return runner

    yield make
    for runner in runners:
        await runner.stop()


@pytest.fixture
def task_in(
    db_sessions: async_sessionmaker[AsyncSession],
) -> Callable[..., Any]:
    """`await task_in(task_id, "succeeded")`: poll until the task reaches one of the states."""

    async def wait(task_id: int, *states: str, timeout: float = 10.0) -> Task:
        async def reached() -> Task | None:
            task = await get_task(task_id, sessions=db_sessions)
            return task if task is not None and task.status in states else None

        return await wait_for(reached, timeout=timeout, message=f"task {task_id} in {states}")

    return wait
