"""PostgreSQL: the async SQLAlchemy engine and session factory (asyncpg driver)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import quote, urlsplit, urlunsplit

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from services.core.settings import Settings

ASYNCPG_SCHEME = "postgresql+asyncpg"


def database_url_from(settings: Settings) -> str:
    """The SQLAlchemy URL; `DATABASE_URL` (postgres://, postgresql://) wins over `POSTGRES_*`."""
    if settings.database_url is not None:
        parts = urlsplit(settings.database_url.get_secret_value())
        return urlunsplit(parts._replace(scheme=ASYNCPG_SCHEME))
    user = quote(settings.postgres_user, safe="")
    password = settings.postgres_password
    auth = f"{user}:{quote(password.get_secret_value(), safe='')}" if password else user
    host = settings.postgres_host
    return f"{ASYNCPG_SCHEME}://{auth}@{host}:{settings.postgres_port}/{settings.postgres_db}"


def describe_database(settings: Settings) -> str:
    """Where the database is, without the password: for error messages and logs."""
    parts = urlsplit(database_url_from(settings))
    return f"{parts.hostname}:{parts.port or 5432}{parts.path} as {parts.username}"


def create_engine(settings: Settings) -> AsyncEngine:
    """An async engine with a small pool; connections are checked before use."""
    return create_async_engine(
        database_url_from(settings),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_pre_ping=True,
        hide_parameters=True,
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


_default_factories: dict[int, async_sessionmaker[AsyncSession]] = {}


def default_session_factory(settings: Settings | None = None) -> async_sessionmaker[AsyncSession]:
    """A process-wide session factory for producers that did not bring their own.

    One engine per running event loop: asyncpg connections cannot cross loops.
    """
    import asyncio

    from services.core.settings import get_settings

    loop_id = id(asyncio.get_running_loop())
    if loop_id not in _default_factories:
        _default_factories[loop_id] = create_session_factory(
            create_engine(settings or get_settings())
        )
    return _default_factories[loop_id]


@asynccontextmanager
async def session_scope(
    session: AsyncSession | None = None,
    sessions: async_sessionmaker[AsyncSession] | None = None,
) -> AsyncIterator[AsyncSession]:
    """Use the caller's `session` as is (its transaction, its commit), or open one and commit.

    With neither argument, the default factory is used. On an exception an opened session
    is rolled back; a caller's session is left for the caller to roll back.
    """
    if session is not None:
        yield session
        return
    factory = sessions or default_session_factory()
    async with factory() as own, own.begin():
        yield own
