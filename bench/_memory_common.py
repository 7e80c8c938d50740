"""Shared set-up of the memory benchmarks: a Redis client on a bench DB and clean-up."""

from __future__ import annotations

import os
import uuid

from redis.asyncio import Redis

from services.core.settings import Settings, load_settings

BENCH_REDIS_DB = int(os.environ.get("BENCH_REDIS_DB", "8"))


def bench_settings(**overrides: object) -> Settings:
    """Settings on the bench Redis DB with a unique key prefix (nothing else is touched)."""
    return load_settings(
        redis_host=os.environ.get("BENCH_REDIS_HOST", "127.0.0.1"),
        redis_db=BENCH_REDIS_DB,
        key_prefix=f"bench{uuid.uuid4().hex[:8]}:",
        **overrides,
    )


def client(settings: Settings) -> Redis:
    return Redis(host=settings.redis_host, port=settings.redis_port, db=settings.redis_db)


async def cleanup(redis: Redis, *patterns: str) -> None:
    """Delete the bench's keys (SCAN by prefix: clean-up only, never in a measured path)."""
    for pattern in patterns:
        batch = []
        async for key in redis.scan_iter(match=pattern, count=10_000):
            batch.append(key)
            if len(batch) >= 10_000:
                await redis.delete(*batch)
                batch = []
        if batch:
            await redis.delete(*batch)
