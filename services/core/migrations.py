"""Schema migrations through alembic, driven from code (the CLI and the tests use this).

The alembic files live at the repository root (`alembic.ini`, `migrations/`); an install
that moved them elsewhere points `AI_WORKER_ALEMBIC_INI` at its `alembic.ini`.
"""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine

from services.core.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]


class MigrationsNotFound(RuntimeError):
    """alembic.ini could not be located."""


def find_alembic_ini() -> Path:
    candidates = [os.environ.get("AI_WORKER_ALEMBIC_INI"), Path.cwd() / "alembic.ini"]
    candidates.append(str(REPO_ROOT / "alembic.ini"))
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise MigrationsNotFound(
        "alembic.ini not found in the current directory or the project root; "
        "set AI_WORKER_ALEMBIC_INI to its path"
    )


def alembic_config(settings: Settings) -> Config:
    """An alembic `Config` whose database is `settings`' database."""
    config = Config(str(find_alembic_ini()))
    config.attributes["database_url"] = settings.sqlalchemy_url
    config.attributes["configure_logger"] = False
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Upgrade the schema to `revision` (idempotent at head). Blocking: call it off the loop."""
    command.upgrade(alembic_config(settings), revision)


def downgrade(settings: Settings, revision: str) -> None:
    """Downgrade the schema to `revision` ("base" removes every table)."""
    command.downgrade(alembic_config(settings), revision)


def head_revision(settings: Settings) -> str | None:
    """The newest revision the code ships."""
    return ScriptDirectory.from_config(alembic_config(settings)).get_current_head()


async def current_revision(settings: Settings) -> str | None:
    """The revision the database is at (None for an unmigrated database)."""
    engine = create_async_engine(settings.sqlalchemy_url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
    finally:
        await engine.dispose()
