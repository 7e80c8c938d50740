"""The L2 scan: enqueue `task_update_topic_memory` for due topics, and only those.

Reads the due-index (``ZRANGEBYSCORE``) and enqueues every due topic in one Lua call with a
deterministic arq job id per topic, so a topic never has two pending updates and re-running
the scan enqueues nothing new (idempotent). Cost: O(due topics), whatever the topic count.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from arq.constants import default_queue_name, job_key_prefix, result_key_prefix
from arq.jobs import serialize_job
from redis.asyncio import Redis

from services.core.serialization import job_serializer
from services.core.settings import Settings
from services.memory.queue import due_topics
from services.memory.scripts import ENQUEUE_UNIQUE

UPDATE_FUNCTION = "task_update_topic_memory"
#: Most topics enqueued by one scan; the rest stay due and are taken by the next scan.
SCAN_LIMIT = 10_000
#: How long an enqueued update may wait before arq drops it (the next scan re-enqueues).
JOB_EXPIRES_MS = 24 * 3600 * 1000


def update_job_id(settings: Settings, topic_id: str) -> str:
    """The arq job id of a topic's update: one pending update per topic fleet-wide."""
    return f"{settings.key_prefix}mem:update:{topic_id}"


@dataclass(frozen=True)
class ScanResult:
    due: list[str]
    enqueued: list[str]


async def enqueue_updates(
    redis: Redis, settings: Settings, topic_ids: list[str], *, queue_name: str
) -> list[str]:
    """Enqueue an update for each topic without one queued or running; returns those enqueued.

    One round trip. A stale result of a finished update (which would make arq refuse the
    id) is removed.
    """
    if not topic_ids:
        return []
    now_ms = int(time.time() * 1000)
    keys: list[str] = [queue_name]
    args: list[bytes | str | int] = [now_ms, JOB_EXPIRES_MS]
    by_job: dict[str, str] = {}
    for topic_id in topic_ids:
        job_id = update_job_id(settings, topic_id)
        by_job[job_id] = topic_id
        keys += [job_key_prefix + job_id, result_key_prefix + job_id]
        args += [
            job_id,
            serialize_job(
                UPDATE_FUNCTION, (topic_id,), {}, None, now_ms, serializer=job_serializer
            ),
        ]
    enqueued = await ENQUEUE_UNIQUE.run(redis, keys, args)
    return [by_job[j.decode() if isinstance(j, bytes) else j] for j in enqueued]


async def scan(
    redis: Redis,
    settings: Settings,
    *,
    now: datetime,
    queue_name: str | None = None,
    limit: int = SCAN_LIMIT,
) -> ScanResult:
    """Enqueue updates for the topics due at `now` (taken from an injectable clock)."""
    queue = queue_name or getattr(redis, "default_queue_name", None) or default_queue_name
    topics = await due_topics(redis, settings, now=now.timestamp(), limit=limit)
    return ScanResult(
        due=topics, enqueued=await enqueue_updates(redis, settings, topics, queue_name=queue)
    )
