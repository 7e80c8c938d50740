"""Redis connections: arq `RedisSettings` from our settings, and the producer pool.

The pool retries commands on connection errors with exponential backoff for up to
`REDIS_RETRY_SECONDS`, so a short Redis restart slows a running worker down instead of
killing it.
"""

from __future__ import annotations

from arq.connections import ArqRedis, RedisSettings
from arq.connections import create_pool as arq_create_pool
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import BusyLoadingError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.core.serialization import job_deserializer, job_serializer
from services.core.settings import Settings, get_settings

BACKOFF_CAP_SECONDS = 2.0


def _retry_policy(total_seconds: float) -> Retry:
    # With a 2 s cap, the backoff sleeps about total/2 times before giving up.
    retries = max(3, int(total_seconds / BACKOFF_CAP_SECONDS) + 4)
    return Retry(ExponentialBackoff(cap=BACKOFF_CAP_SECONDS, base=0.05), retries)


def redis_settings_from(settings: Settings) -> RedisSettings:
    """arq `RedisSettings` for `settings`; `REDIS_URL` wins over the `REDIS_*` parts."""
    if settings.redis_url is not None:
        base = RedisSettings.from_dsn(settings.redis_url.get_secret_value())
    else:
        password = settings.redis_password
        base = RedisSettings(
            host=settings.redis_host,
            port=settings.redis_port,
            database=settings.redis_db,
            password=password.get_secret_value() if password else None,
            ssl=settings.redis_ssl,
        )
    base.conn_retries = settings.redis_conn_retries
    base.retry_on_timeout = True
    base.retry_on_error = [RedisConnectionError, RedisTimeoutError, BusyLoadingError, OSError]
    base.retry = _retry_policy(settings.redis_retry_seconds)
    return base


async def create_pool(
    settings: Settings | None = None, *, queue_name: str | None = None
) -> ArqRedis:
    """An `ArqRedis` pool for producers, using the project's safe job serializer.

    `enqueue_job('name', ...)` on it reaches the unified worker's queue unless
    `queue_name` says otherwise. Raises `redis.exceptions.ConnectionError` when Redis
    cannot be reached after the configured retries.
    """
    settings = settings or get_settings()
    return await arq_create_pool(
        redis_settings_from(settings),
        job_serializer=job_serializer,
        job_deserializer=job_deserializer,
        default_queue_name=queue_name or settings.queue_name,
    )
