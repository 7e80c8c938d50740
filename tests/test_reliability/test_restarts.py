"""Redis and PostgreSQL restarts under a running worker: it survives and carries on."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from services.core import migrations
from services.core.db import create_engine, create_session_factory
from services.core.redis import create_pool
from services.core.settings import load_settings
from services.long_tasks.api import get_task, submit_task
from tests.support.polling import wait_for, wait_for_sync
from tests.support.private_servers import PrivatePostgres, PrivateRedis, outage
from tests.support.processes import WorkerProcess
from tests.support.services import worker_target

pytestmark = pytest.mark.slow
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis().start()
    yield server
    server.kill()


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres().init()
    migrations.upgrade(load_settings(database_url=server.url), "head")
    yield server
    server.destroy()


def check(env: dict[str, str], kind: str) -> int:
    binary = str(Path(sys.executable).parent / "ai-worker")
    return subprocess.run(
        [binary, "check", "--kind", kind], env=env, capture_output=True, timeout=60, cwd=REPO_ROOT
    ).returncode


async def test_worker_survives_redis_restart(
    private_redis: PrivateRedis,
    worker_env: dict[str, str],
    start_worker: Callable[..., WorkerProcess],
) -> None:
    env = {
        **worker_env,
        "REDIS_PORT": str(private_redis.port),
        "REDIS_DB": "0",
        "HEARTBEAT_SECONDS": "0.5",
    }
    target = worker_target("memory")
    worker = start_worker(target, env=env)
    settings = load_settings(
        redis_port=private_redis.port, redis_db=0, queue_name=env["QUEUE_NAME"]
    )
    queue = env["QUEUE_NAME"] if "unified" in target else env["MEMORY_QUEUE_NAME"]

    async def round_trip(value: str) -> object:
        pool = await create_pool(settings)
        try:
            job = await pool.enqueue_job("ping", value, _queue_name=queue)
            assert job is not None
            return await job.result(timeout=30)
        finally:
            await pool.aclose()

    assert await round_trip("before") == "before"
    private_redis.kill()
    await asyncio.to_thread(outage, 3)
    private_redis.start()
    assert await round_trip("after") == "after"
    assert worker.running(), worker.output()
    await asyncio.to_thread(
        wait_for_sync, lambda: check(env, "any") == 0, timeout=30, message="check healthy again"
    )


async def test_worker_survives_postgres_restart(
    private_postgres: PrivatePostgres,
    worker_env: dict[str, str],
    start_worker: Callable[..., WorkerProcess],
) -> None:
    import tests.support.long_task_handlers  # noqa: F401 - registers the test kinds here too

    env = {
        **worker_env,
        "DATABASE_URL": private_postgres.url,
        "LONG_TASK_MODULES": "tests.support.long_task_handlers",
        "HEARTBEAT_SECONDS": "0.5",
    }
    worker = start_worker(worker_target("long_tasks"), env=env)
    engine = create_engine(load_settings(database_url=private_postgres.url))
    sessions = create_session_factory(engine)
    try:
        first = await submit_task("builtin.noop", {}, sessions=sessions)

        async def succeeded(task_id: int) -> bool:
            task = await get_task(task_id, sessions=sessions)
            return task is not None and task.status == "succeeded"

        await wait_for(lambda: succeeded(first.id), timeout=30, message="first task")
        assert await asyncio.to_thread(check, env, "any") == 0

        private_postgres.stop()
        assert await asyncio.to_thread(check, env, "any") == 1  # PostgreSQL down: unhealthy
        await asyncio.to_thread(outage, 3)
        private_postgres.start()
        await engine.dispose()  # the test's own pool holds dead connections

        second = await submit_task("builtin.noop", {}, sessions=sessions)
        await wait_for(lambda: succeeded(second.id), timeout=90, message="task after restart")
        assert worker.running(), worker.output()
        assert await asyncio.to_thread(check, env, "any") == 0
    finally:
        await engine.dispose()
