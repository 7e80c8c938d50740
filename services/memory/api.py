"""What producers call to use the memory subsystem.

from services.memory.api import push_message, get_topic_memory, get_consensus

length = await push_message(redis, topic_id="t1", group_id="g1", message={
    "id": "m1", "author": "alice", "role": "user", "text": "你好。", "timestamp": now})
memory = await get_topic_memory("t1")   # None until the first update
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.clock import Clock, utc_now
from services.core.db import session_scope
from services.core.settings import Settings, get_settings
from services.memory import store
from services.memory.consensus import Consensus, Statement
from services.memory.models import Message
from services.memory.queue import push
from services.memory.scan import enqueue_updates
from services.memory.topic_memory import TopicMemory

__all__ = [
    "Consensus",
    "Message",
    "StoredTopicMemory",
    "enqueue_topic_update",
    "get_consensus",
    "get_topic_memory",
    "push_message",
]


class StoredTopicMemory(BaseModel):
    """A topic's memory as stored, with its bookkeeping."""

    topic_id: str
    group_id: str
    version: int
    watermark: int
    message_count: int
    memory: TopicMemory
    updated_at: datetime


async def push_message(
    redis: Redis,
    *,
    topic_id: str,
    group_id: str,
    message: Message | Mapping[str, Any],
    settings: Settings | None = None,
    clock: Clock = utc_now,
) -> int:
    """Append `message` to the topic's L2 queue; returns the queue length.

    One Redis round trip, atomic (Lua). Idempotent per message id while it is pending.
    At `L2_QUEUE_MAX_LEN` the oldest messages are dropped with a warning, a per-topic
    counter and a metric, and the topic becomes due. Raises `InvalidMessage` (a
    `ValueError` naming the field) for bad input; nothing is stored then.
    """
    result = await push(
        redis, topic_id=topic_id, group_id=group_id, message=message, settings=settings, clock=clock
    )
    return result.length


async def enqueue_topic_update(
    redis: Redis, topic_id: str, *, settings: Settings | None = None, queue_name: str | None = None
) -> bool:
    """Ask for an update of the topic now; False if one is already queued or running."""
    settings = settings or get_settings()
    queue = queue_name or getattr(redis, "default_queue_name", None) or settings.queue_name
    return bool(await enqueue_updates(redis, settings, [topic_id], queue_name=queue))


async def get_topic_memory(
    topic_id: str,
    session: AsyncSession | None = None,
    *,
    sessions: async_sessionmaker[AsyncSession] | None = None,
) -> StoredTopicMemory | None:
    """The topic's stored memory, or None if it was never updated. Read-only."""
    async with session_scope(session, sessions) as active:
        row = await store.get_topic(active, topic_id)
    if row is None or row.version == 0:
        return None
    return StoredTopicMemory(
        topic_id=row.topic_id,
        group_id=row.group_id,
        version=row.version,
        watermark=row.watermark,
        message_count=row.message_count,
        memory=TopicMemory.model_validate(row.memory),
        updated_at=row.updated_at,
    )


async def get_consensus(
    group_id: str,
    day: date | None = None,
    session: AsyncSession | None = None,
    *,
    sessions: async_sessionmaker[AsyncSession] | None = None,
) -> Consensus | None:
    """The group's consensus for `day` (default: the latest day stored), or None. Read-only."""
    async with session_scope(session, sessions) as active:
        row = await store.get_consensus_row(active, group_id, day)
    if row is None:
        return None
    return Consensus(
        group_id=row.group_id,
        day=row.day,
        version=row.version,
        topic_count=row.topic_count,
        statements=[Statement.model_validate(s) for s in row.statements],
        updated_at=row.updated_at,
    )
