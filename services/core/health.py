"""Reachability checks for Redis and PostgreSQL, with messages an operator can act on.

Each check returns a `ServiceCheck` instead of raising; the message says which service,
where it looked (never with the password) and how to start it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg
from redis.asyncio import Redis

from services.core.db import database_url_from, describe_database
from services.core.redis import redis_settings_from
from services.core.settings import Settings

CHECK_TIMEOUT_SECONDS = 3.0
REDIS_HINT = (
    "start it with `redis-server --daemonize yes --bind 127.0.0.1 --port 6379` "
    "or `docker compose up -d redis`, or set REDIS_URL / REDIS_HOST and REDIS_PORT"
)
POSTGRES_HINT = (
    "start it with `pg_ctlcluster <version> main start` or `docker compose up -d postgres`, "
    "or set DATABASE_URL / POSTGRES_HOST and POSTGRES_PORT"
)


@dataclass(frozen=True)
class ServiceCheck:
    name: str
    ok: bool
    detail: str


def describe_redis(settings: Settings) -> str:
    """Where Redis is, without the password."""
    rs = redis_settings_from(settings)
    if rs.unix_socket_path:
        return f"unix://{rs.unix_socket_path} db {rs.database}"
    scheme = "rediss" if rs.ssl else "redis"
    return f"{scheme}://{rs.host}:{rs.port}/{rs.database}"


def redis_client(settings: Settings, timeout: float = CHECK_TIMEOUT_SECONDS) -> Redis:
    """A plain client without retries: a check must answer quickly, not wait out an outage."""
    rs = redis_settings_from(settings)
    if rs.unix_socket_path:
        return Redis(unix_socket_path=rs.unix_socket_path, db=rs.database, password=rs.password)
    return Redis(
        host=str(rs.host),
        port=rs.port,
        db=rs.database,
        username=rs.username,
        password=rs.password,
        ssl=rs.ssl,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
    )


async def check_redis(settings: Settings) -> ServiceCheck:
    where = describe_redis(settings)
    client = redis_client(settings)
    try:
        await asyncio.wait_for(client.ping(), CHECK_TIMEOUT_SECONDS)
    except Exception as error:
        reason = type(error).__name__
        return ServiceCheck(
            "redis", False, f"Redis unreachable at {where} ({reason}); {REDIS_HINT}"
        )
    finally:
        await client.aclose()
    return ServiceCheck("redis", True, f"Redis answers at {where}")


async def check_postgres(settings: Settings) -> ServiceCheck:
    where = describe_database(settings)
    dsn = database_url_from(settings).replace("postgresql+asyncpg://", "postgresql://", 1)
    try:
        connection = await asyncpg.connect(dsn, timeout=CHECK_TIMEOUT_SECONDS)
    except Exception as error:
        reason = type(error).__name__
        return ServiceCheck(
            "postgres", False, f"PostgreSQL unreachable at {where} ({reason}); {POSTGRES_HINT}"
        )
    await connection.close()
    return ServiceCheck("postgres", True, f"PostgreSQL answers at {where}")


async def check_services(settings: Settings) -> list[ServiceCheck]:
    """Both checks, concurrently."""
    return list(await asyncio.gather(check_redis(settings), check_postgres(settings)))
