"""Migrations: upgrade to head and downgrade to base on a fresh database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import asyncpg
import pytest

from services.core import migrations
from services.core.settings import Settings, load_settings
from tests.support import services as svc


@pytest.fixture
def empty_database() -> Iterator[Settings]:
    name = f"aiw_migrate_{uuid.uuid4().hex[:8]}"

    asyncio.run(svc.admin_execute(f'CREATE DATABASE "{name}"'))
    yield load_settings(database_url=svc.admin_url_for(name))
    asyncio.run(svc.admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def public_tables(settings: Settings) -> set[str]:
    connection = await asyncpg.connect(settings.sqlalchemy_url.replace("+asyncpg", ""))
    try:
        rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await connection.close()
    return {row[0] for row in rows}


def test_upgrade_head_then_downgrade_base(empty_database: Settings) -> None:
    settings = empty_database
    assert asyncio.run(migrations.current_revision(settings)) is None
    migrations.upgrade(settings, "head")
    assert asyncio.run(migrations.current_revision(settings)) == migrations.head_revision(settings)
    migrations.upgrade(settings, "head")  # idempotent
    migrations.downgrade(settings, "base")
    assert asyncio.run(migrations.current_revision(settings)) is None
    assert asyncio.run(public_tables(settings)) <= {"alembic_version"}
    migrations.upgrade(settings, "head")
    assert asyncio.run(migrations.current_revision(settings)) == migrations.head_revision(settings)


def test_alembic_cli_and_ai_worker_migrate_on_empty_databases(empty_database: Settings) -> None:
    """Both documented commands build the schema from nothing, with the worker's settings."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "DATABASE_URL": empty_database.sqlalchemy_url}
    alembic = subprocess.run(
        [str(Path(sys.executable).parent / "alembic"), "upgrade", "head"],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert alembic.returncode == 0, alembic.stderr
    head = migrations.head_revision(empty_database)
    assert asyncio.run(migrations.current_revision(empty_database)) == head
    assert {"long_tasks", "topic_memories", "group_consensus"} <= asyncio.run(
        public_tables(empty_database)
    )

    migrations.downgrade(empty_database, "base")
    cli = subprocess.run(
        [str(Path(sys.executable).parent / "ai-worker"), "migrate"],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 0, cli.stderr
    assert f"database at {head}" in cli.stdout
    assert asyncio.run(migrations.current_revision(empty_database)) == head
