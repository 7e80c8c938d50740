"""Read-only views of the running system shared by `status` and `check`."""

from __future__ import annotations

import time
from typing import Any

from arq.connections import ArqRedis
from arq.constants import in_progress_key_prefix

from services.core.heartbeat import live_workers
from services.core.settings import Settings

IN_PROGRESS_SAMPLE = 10_000


def all_queues(settings: Settings) -> list[str]:
    return list(
        dict.fromkeys(
            [settings.queue_name, settings.long_tasks_queue_name, settings.memory_queue_name]
        )
    )


async def queue_summary(redis: ArqRedis, queue: str) -> dict[str, Any]:
    """Depth, ready/scheduled split and in-progress count of one arq queue.

    In-progress is counted over the first 10,000 ready jobs (`in_progress_sampled` says so).
    """
    now_ms = int(time.time() * 1000)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zcard(queue)
        pipe.zcount(queue, "-inf", now_ms)
        pipe.zrangebyscore(queue, "-inf", now_ms, start=0, num=IN_PROGRESS_SAMPLE)
        depth, ready, ready_ids = await pipe.execute()
    in_progress = 0
    if ready_ids:
        async with redis.pipeline(transaction=False) as pipe:
            for job_id in ready_ids:
                pipe.exists(in_progress_key_prefix + job_id.decode())
            in_progress = sum(await pipe.execute())
    return {
        "queue": queue,
        "depth": depth,
        "scheduled": depth - ready,
        "ready": ready - in_progress,
        "in_progress": in_progress,
        "in_progress_sampled": ready > IN_PROGRESS_SAMPLE,
    }


async def workers_summary(redis: ArqRedis, settings: Settings) -> list[dict[str, Any]]:
    now = time.time()
    workers = await live_workers(redis, settings.key_prefix)
    for worker in workers:
        worker["heartbeat_age_seconds"] = round(now - worker["last_heartbeat"], 1)
    return workers
