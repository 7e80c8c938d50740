"""Shared fixtures: real Redis and PostgreSQL, isolated per test, and real worker processes.

A service that cannot be reached fails the whole run loudly: nothing is skipped.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core import migrations
from services.core.db import create_engine, create_session_factory
from services.core.redis import create_pool
from services.core.settings import Settings, load_settings
from tests.support import services as svc
from tests.support.processes import WorkerProcess

REPO_ROOT = Path(__file__).resolve().parents[1]


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=3):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session", autouse=True)
def services_reachable() -> None:
    """Fail loudly (never skip) when Redis or PostgreSQL is down."""
    missing = []
    if not _reachable(svc.TEST_REDIS_HOST, svc.TEST_REDIS_PORT):
        missing.append(f"Redis at {svc.TEST_REDIS_HOST}:{svc.TEST_REDIS_PORT}")
    if not _reachable("127.0.0.1", 5432) and "127.0.0.1:5432" in svc.TEST_POSTGRES_ADMIN_URL:
        missing.append("PostgreSQL at 127.0.0.1:5432")
    if missing:
        pytest.exit(f"test services unreachable: {', '.join(missing)} (see README)", returncode=3)


@pytest.fixture(scope="session")
def redis_db() -> int:
    return svc.redis_db_number()


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh database for this pytest process, migrated to head; dropped at the end."""
    name = svc.database_name()

    asyncio.run(svc.admin_execute(f'CREATE DATABASE "{name}"'))
    url = svc.admin_url_for(name)
    migrations.upgrade(load_settings(database_url=url), "head")
    yield url
    asyncio.run(svc.admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def test_id() -> str:
    return uuid.uuid4().hex[:10]


async def _empty_tables(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        tables = await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'alembic_version'"
        )
        if tables:
            names = ", ".join(f'"{row[0]}"' for row in tables)
            await connection.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        await connection.close()


@pytest.fixture
def worker_env(redis_db: int, database_url: str, test_id: str, tmp_path: Path) -> dict[str, str]:
    """Environment for this test's settings and worker processes (unique prefix and queues).

    Starts every test from empty state: this process's Redis database is flushed and its
    tables emptied.
    """
    SyncRedis(host=svc.TEST_REDIS_HOST, port=svc.TEST_REDIS_PORT, db=redis_db).flushdb()
    asyncio.run(_empty_tables(database_url))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "POSTGRES_"))}
    env.update(
        REDIS_HOST=svc.TEST_REDIS_HOST,
        REDIS_PORT=str(svc.TEST_REDIS_PORT),
        REDIS_DB=str(redis_db),
        DATABASE_URL=database_url,
        KEY_PREFIX=f"t{test_id}:",
        QUEUE_NAME=f"t{test_id}:arq:queue",
        LONG_TASKS_QUEUE_NAME=f"t{test_id}:arq:long_tasks",
        MEMORY_QUEUE_NAME=f"t{test_id}:arq:memory",
        LOG_LEVEL="INFO",
        PYTHONPATH=str(REPO_ROOT),
        PYTHONUNBUFFERED="1",
    )
    return env


def settings_from_env(env: dict[str, str], **overrides: Any) -> Settings:
    fields = set(Settings.model_fields)
    values: dict[str, Any] = {k.lower(): v for k, v in env.items() if k.lower() in fields}
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def settings(worker_env: dict[str, str]) -> Settings:
    return settings_from_env(worker_env)


@pytest.fixture
async def redis(settings: Settings, worker_env: dict[str, str]) -> AsyncIterator[Redis]:
    """A client on this test's Redis database (flushed by `worker_env`)."""
    client = Redis(host=settings.redis_host, port=settings.redis_port, db=settings.redis_db)
    yield client
    await client.aclose()


@pytest.fixture
async def arq_pool(settings: Settings, redis: Redis) -> AsyncIterator[Any]:
    pool = await create_pool(settings)
    yield pool
    await pool.aclose()


@pytest.fixture
async def db_sessions(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on the test database (emptied by `worker_env`)."""
    engine = create_engine(settings)
    yield create_session_factory(engine)
    await engine.dispose()


@pytest.fixture
def start_worker(
    worker_env: dict[str, str], tmp_path: Path
) -> Iterator[Callable[..., WorkerProcess]]:
    """Start real `python -m arq <settings>` processes; all are stopped after the test."""
    started: list[WorkerProcess] = []

    def start(
        settings_path: str, *extra: str, env: dict[str, str] | None = None, ready: bool = True
    ) -> WorkerProcess:
        log = tmp_path / f"worker-{len(started)}.log"
        process = WorkerProcess.arq(settings_path, {**worker_env, **(env or {})}, log, *extra)
        started.append(process)
        return process.start_ready() if ready else process.start()

    yield start
    for process in started:
        process.kill()


@pytest.fixture
def python() -> str:
    return sys.executable
