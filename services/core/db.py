"""PostgreSQL: the async SQLAlchemy engine and session factory (asyncpg driver)."""

from __future__ import annotations

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
