"""Folding a topic's pending L2 messages into its memory, exactly once.

Protocol of `update_topic_memory` (one topic):

1. read the topic's pending messages from Redis (read-only);
2. in one PostgreSQL transaction: lock the topic's row (``FOR UPDATE SKIP LOCKED``: the
   per-topic mutual exclusion, shared by every worker on the database, legacy or unified),
   keep the messages with seq > the stored watermark, record their ids in the ledger
   (a message already recorded is skipped), summarize, store the new memory, version and
   watermark; commit;
3. only then remove the messages with seq <= watermark from Redis (atomic Lua).

A crash before 3 leaves folded messages in Redis; the next run skips them (seq <= watermark)
and removes them. A crash before the commit folds nothing. Messages are never removed
unless they were folded.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.clock import Clock, utc_now
from services.core.settings import Settings
from services.memory import store
from services.memory.models import check_identifier
from services.memory.queue import acknowledge, read_pending
from services.memory.summarizer import Summarizer
from services.memory.topic_memory import TopicMemory, fold

logger = logging.getLogger("ai_worker.memory")

#: Test-only: name of a point where the update pauses (for crash tests that SIGKILL there).
PAUSE_ENV = "AI_WORKER_TEST_PAUSE_AT"


class UnknownTopic(LookupError):
    """The topic has neither pending messages nor a memory."""


@dataclass(frozen=True)
class UpdateResult:
    """Outcome of one update: ``updated``, ``nothing_pending`` or ``busy`` (locked elsewhere)."""

    status: str
    topic_id: str
    folded: int = 0
    skipped: int = 0
    watermark: int = 0
    version: int = 0
    remaining: int = 0

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


async def _pause(point: str) -> None:
    if os.environ.get(PAUSE_ENV) == point:
        logger.warning("test pause at %s", point)
        await asyncio.sleep(3600)


async def update_topic_memory(
    *,
    redis: Redis,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    topic_id: str,
    summarizer: Summarizer,
    clock: Clock = utc_now,
) -> UpdateResult:
    """Fold the topic's pending messages into its memory (see the module docstring).

    Idempotent and safe to run concurrently with itself anywhere: at most one run per topic
    folds at a time; the others return ``busy`` without touching anything. Raises
    `InvalidMessage` for a malformed topic id and `UnknownTopic` for a topic with nothing
    pending and no memory.
    """
    check_identifier("topic_id", topic_id)
    state = await read_pending(
        redis, settings, topic_id, after_seq=0, limit=settings.l2_queue_max_len * 2
    )
    async with sessions() as session, session.begin():
        existing = await store.get_topic(session, topic_id)
        if existing is None:
            if state.group_id is None:
                raise UnknownTopic(f"topic {topic_id!r} has no pending messages and no memory")
            await store.ensure_topic(session, topic_id, state.group_id, clock())

    async with sessions() as session, session.begin():
        row = await store.lock_topic(session, topic_id)
        if row is None:
            logger.info(
                "topic %s is being updated elsewhere",
                topic_id,
                extra={"fields": {"topic_id": topic_id}},
            )
            return UpdateResult("busy", topic_id)
        batch = list(
            {p.message.id: p for p in reversed(state.pending) if p.seq > row.watermark}.values()
        )
        batch.sort(key=lambda p: p.seq)
        watermark, version = int(row.watermark), int(row.version)
        fresh_count = 0
        if batch:
            now = clock()
            watermark = max(p.seq for p in state.pending if p.seq > row.watermark)
            version += 1
            new_ids = await store.record_folded(
                session, topic_id, [(p.message.id, p.seq) for p in batch], version, now
            )
            fresh = [p.message for p in batch if p.message.id in new_ids]
            memory = TopicMemory.model_validate(row.memory or {})
            await _pause("summarize")
            if fresh:
                digest = await summarizer.summarize(memory.summary, fresh)
                memory = fold(memory, fresh, digest, summarizer.name)
            await store.save_topic(
                session,
                topic_id,
                watermark=watermark,
                version=version,
                added=len(fresh),
                memory=memory.model_dump(mode="json"),
                now=now,
            )
            fresh_count = len(fresh)
    await _pause("after_commit")
    remaining = await acknowledge(redis, settings, topic_id, watermark=watermark, clock=clock)
    result = UpdateResult(
        "updated" if batch else "nothing_pending",
        topic_id,
        folded=fresh_count,
        skipped=len(batch) - fresh_count,
        watermark=watermark,
        version=version,
        remaining=remaining,
    )
    logger.info(
        "topic %s memory %s: folded %d message(s)",
        topic_id,
        result.status,
        result.folded,
        extra={"fields": result.as_dict()},
    )
    return result
