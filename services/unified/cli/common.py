"""Helpers every `ai-worker` command shares: settings, connections, output, errors."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import click
from arq.connections import ArqRedis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.db import create_engine, create_session_factory
from services.core.health import describe_redis
from services.core.redis import create_pool
from services.core.settings import ConfigError, Settings, get_settings

T = TypeVar("T")


def fail(message: str, code: int = 1) -> NoReturn:
    """Print `message` to stderr and exit with `code` (no traceback)."""
    click.echo(f"ai-worker: {message}", err=True)
    sys.exit(code)


def load_settings_or_fail() -> Settings:
    try:
        return get_settings()
    except ConfigError as error:
        fail(str(error), code=2)


async def cli_pool(settings: Settings) -> ArqRedis:
    """A producer pool that gives up quickly: a CLI must answer, not wait out an outage."""
    quick = settings.model_copy(update={"redis_retry_seconds": 1.0, "redis_conn_retries": 0})
    return await create_pool(quick)


def run_with_redis(settings: Settings, body: Callable[[ArqRedis], Awaitable[T]]) -> T:
    """Run `body(pool)`; an unreachable Redis becomes a one-line error and exit 1."""

    async def main() -> T:
        pool = await cli_pool(settings)
        try:
            return await body(pool)
        finally:
            await pool.aclose()

    try:
        return asyncio.run(main())
    except (RedisError, OSError) as error:
        fail(f"Redis unreachable at {describe_redis(settings)} ({type(error).__name__})")


def run_with_db(
    settings: Settings, body: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]
) -> T:
    """Run `body(sessions)` on a short-lived engine; an unreachable or failing database
    becomes a one-line error and exit 1."""

    async def main() -> T:
        engine = create_engine(settings)
        try:
            return await body(create_session_factory(engine))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except (OSError, SQLAlchemyError) as error:
        fail(f"PostgreSQL unreachable or failing ({type(error).__name__}); run `ai-worker check`")


def emit(data: Any, as_json: bool, render: Callable[[Any], str]) -> None:
    """Print `data` as JSON (stable keys, sorted) or through `render` for humans."""
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        click.echo(render(data))


def parse_value(raw: str) -> Any:
    """A JSON value when `raw` parses as JSON, else the plain string."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw
