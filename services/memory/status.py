"""What `ai-worker status` shows of the memory subsystem."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.clock import Clock, utc_now
from services.core.settings import Settings
from services.memory import store
from services.memory.queue import backlog_summary


async def memory_status(
    redis: Redis, session: AsyncSession, settings: Settings, clock: Clock = utc_now
) -> dict[str, Any]:
    """L2 backlog (topics pending, due now, messages dropped) and last consensus per group."""
    summary: dict[str, Any] = await backlog_summary(redis, settings, now=clock().timestamp())
    summary["last_consensus"] = await store.latest_consensus_per_group(session)
    return summary
