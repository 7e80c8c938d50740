"""L2 topic queues in Redis: push, read pending, acknowledge, and the due-index.

Key layout (``P`` = ``KEY_PREFIX``):

- ``P mem:q:<topic>``    sorted set, score = per-topic sequence number, member ``seq:json``
- ``P mem:ids:<topic>``  hash message id -> seq of pending messages (de-duplication)
- ``P mem:meta:<topic>`` hash: group, seq (last assigned), first_at (first pending, epoch s),
  updated_at (last memory update, epoch s), dropped (messages dropped at the cap, total)
- ``P mem:due``          sorted set, member = topic id, score = epoch s when it becomes due

Finding due topics is ``ZRANGEBYSCORE mem:due -inf now``: its cost grows with the number
of due topics, never with the number of topics.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from services.core.clock import Clock, utc_now
from services.core.metrics import L2_DROPPED_MESSAGES
from services.core.settings import Settings, get_settings
from services.memory.models import (
    InvalidMessage,
    Message,
    PendingMessage,
    check_identifier,
    parse_message,
)
from services.memory.scripts import ACK, PUSH

logger = logging.getLogger("ai_worker.memory")


@dataclass(frozen=True)
class TopicKeys:
    """The Redis keys of one topic and the shared due-index."""

    queue: str
    ids: str
    meta: str
    due: str
    stats: str

    @classmethod
    def of(cls, settings: Settings, topic_id: str) -> TopicKeys:
        base = f"{settings.key_prefix}mem:"
        return cls(
            f"{base}q:{topic_id}",
            f"{base}ids:{topic_id}",
            f"{base}meta:{topic_id}",
            due_key(settings),
            stats_key(settings),
        )

    def as_list(self) -> list[str]:
        return [self.queue, self.ids, self.meta, self.due, self.stats]


def due_key(settings: Settings) -> str:
    return f"{settings.key_prefix}mem:due"


def stats_key(settings: Settings) -> str:
    """Hash of totals over all topics (``dropped``), for `ai-worker status`."""
    return f"{settings.key_prefix}mem:stats"


@dataclass(frozen=True)
class PushResult:
    """What one push did: queue length after it, messages dropped at the cap, seq, duplicate."""

    length: int
    dropped: int
    seq: int
    duplicate: bool


async def push(
    redis: Redis,
    *,
    topic_id: str,
    group_id: str,
    message: Message | Mapping[str, Any],
    settings: Settings | None = None,
    clock: Clock = utc_now,
) -> PushResult:
    """Append `message` to the topic's L2 queue: one atomic Redis round trip (Lua).

    Idempotent per message id: pushing an id that is still pending changes nothing. At
    `L2_QUEUE_MAX_LEN` the oldest messages are dropped *loudly* (warning log, per-topic
    counter ``dropped`` in the topic's meta hash, metric ``aiw_l2_dropped_messages_total``)
    and the topic becomes due at once. Raises `InvalidMessage` for bad input (nothing is
    stored) and when the topic already belongs to another group.
    """
    settings = settings or get_settings()
    check_identifier("topic_id", topic_id)
    check_identifier("group_id", group_id)
    parsed = parse_message(message)
    keys = TopicKeys.of(settings, topic_id)
    try:
        length, dropped, seq, duplicate = await PUSH.run(
            redis,
            keys.as_list(),
            [
                topic_id,
                parsed.id,
                parsed.to_json(),
                group_id,
                repr(clock().timestamp()),
                settings.l2_queue_trigger_threshold,
                settings.l2_force_update_after_minutes * 60,
                settings.l2_queue_max_len,
            ],
        )
    except ResponseError as error:
        if "WRONGGROUP" in str(error):
            raise InvalidMessage(
                f"group_id: topic {topic_id!r} {str(error).split(' ', 2)[-1]}"
            ) from None
        raise
    if dropped:
        L2_DROPPED_MESSAGES.inc(dropped)
        logger.warning(
            "L2 queue of topic %s is full: dropped %d oldest message(s)",
            topic_id,
            dropped,
            extra={
                "fields": {
                    "topic_id": topic_id,
                    "dropped": dropped,
                    "cap": settings.l2_queue_max_len,
                }
            },
        )
    return PushResult(int(length), int(dropped), int(seq), bool(duplicate))


def decode_member(member: bytes | str) -> PendingMessage:
    text = member.decode() if isinstance(member, bytes) else member
    seq, _, body = text.partition(":")
    return PendingMessage(seq=int(seq), message=Message.model_validate_json(body))


@dataclass(frozen=True)
class TopicState:
    """A topic's group and pending messages above a watermark, as read from Redis."""

    group_id: str | None
    pending: list[PendingMessage]
    dropped: int


async def read_pending(
    redis: Redis, settings: Settings, topic_id: str, *, after_seq: int, limit: int
) -> TopicState:
    """Pending messages with seq > `after_seq`, oldest first, at most `limit` (read-only)."""
    keys = TopicKeys.of(settings, topic_id)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hget(keys.meta, "group")
        pipe.hget(keys.meta, "dropped")
        pipe.zrangebyscore(keys.queue, f"({after_seq}", "+inf", start=0, num=limit)
        group, dropped, members = await pipe.execute()
    return TopicState(
        group_id=group.decode() if group else None,
        pending=[decode_member(m) for m in members],
        dropped=int(dropped or 0),
    )


async def acknowledge(
    redis: Redis, settings: Settings, topic_id: str, *, watermark: int, clock: Clock = utc_now
) -> int:
    """Remove the topic's messages with seq <= `watermark` and re-compute its due time.

    Atomic (Lua). Call it only after the fold up to `watermark` is committed. Idempotent.
    Returns how many messages are still pending.
    """
    keys = TopicKeys.of(settings, topic_id)
    remaining, _removed = await ACK.run(
        redis,
        keys.as_list(),
        [
            topic_id,
            watermark,
            repr(clock().timestamp()),
            settings.l2_queue_trigger_threshold,
            settings.l2_force_update_after_minutes * 60,
        ],
    )
    return int(remaining)


async def due_topics(redis: Redis, settings: Settings, *, now: float, limit: int) -> list[str]:
    """Topics due at `now` (epoch s), most overdue first: reads the due-index only."""
    members = await redis.zrangebyscore(due_key(settings), "-inf", now, start=0, num=limit)
    return [m.decode() if isinstance(m, bytes) else m for m in members]


async def backlog(redis: Redis, settings: Settings) -> int:
    """Topics with pending messages (the size of the due-index)."""
    return int(await redis.zcard(due_key(settings)))


async def backlog_summary(redis: Redis, settings: Settings, *, now: float) -> dict[str, int]:
    """Topics pending, topics due at `now`, and messages dropped at the cap (all time)."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zcard(due_key(settings))
        pipe.zcount(due_key(settings), "-inf", now)
        pipe.hget(stats_key(settings), "dropped")
        pending, due, dropped = await pipe.execute()
    return {
        "topics_pending": int(pending),
        "topics_due": int(due),
        "dropped_messages": int(dropped or 0),
    }
