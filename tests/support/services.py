"""Where the test services are, and per-session / per-test isolation on them.

- Redis: one database number per pytest process (tox env base + xdist worker index),
  flushed before each test, plus unique key prefixes and queue names per test.
- PostgreSQL: one fresh database per pytest process, built from the alembic migrations
  and dropped afterwards; tables are emptied before each test.
"""

from __future__ import annotations

import os
import uuid

TEST_REDIS_HOST = os.environ.get("TEST_REDIS_HOST", "127.0.0.1")
TEST_REDIS_PORT = int(os.environ.get("TEST_REDIS_PORT", "6379"))
TEST_POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
WORKER_MODE = os.environ.get("WORKER_MODE", "unified")
if WORKER_MODE not in {"unified", "legacy"}:
    raise RuntimeError(f"WORKER_MODE={WORKER_MODE!r}: expected unified or legacy")

LEGACY_SETTINGS = {
    "long_tasks": "app.long_tasks.worker.WorkerSettings",
    "memory": "app.memory.worker.WorkerSettings",
}
UNIFIED_SETTINGS = "services.unified.worker.UnifiedWorkerSettings"


def redis_db_number() -> int:
    """This pytest process's Redis database: TEST_REDIS_DB_BASE + the xdist worker index."""
    base = int(os.environ.get("TEST_REDIS_DB_BASE", "1"))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return base + int(worker.removeprefix("gw") or 0)


def database_name() -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return f"aiw_test_{WORKER_MODE}_{worker}_{uuid.uuid4().hex[:8]}"


def admin_url_for(database: str) -> str:
    base, _, _ = TEST_POSTGRES_ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


def worker_target(subsystem: str, mode: str = WORKER_MODE) -> str:
    """The settings path a test's worker runs for `subsystem` in this tox mode."""
    return UNIFIED_SETTINGS if mode == "unified" else LEGACY_SETTINGS[subsystem]


async def admin_execute(sql: str) -> None:
    """Run `sql` on the admin database (CREATE/DROP DATABASE for isolated test databases)."""
    import asyncpg

    connection = await asyncpg.connect(TEST_POSTGRES_ADMIN_URL)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()
