"""Move waiting jobs from the legacy queues to the unified queue, atomically.

arq keeps a job's data under a global key (``arq:job:<id>``) and its place in a queue as a
sorted-set member, so moving a job is moving the member (with its score, so deferred jobs
stay deferred). The move is one Lua script per batch:

- a job that is in progress (``arq:in-progress:<id>`` exists) is never moved;
- a legacy worker that read the job id but has not started it yet loses the race cleanly:
  the script touches the job's in-progress key, which aborts that worker's WATCH/MULTI
  start, and the job's score is gone from its queue when it checks again;
- a member whose job data has expired or vanished is moved too (the unified worker records
  it as expired, exactly as the legacy worker would have).

`BRIDGE_LEGACY_QUEUES=true` (the default) makes the unified worker run this every second;
`ai-worker queues drain --from arq:memory` runs it on demand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from arq.constants import in_progress_key_prefix
from redis.asyncio import Redis

from services.core.blueprint import Blueprint, Ctx
from services.core.lua import LuaScript
from services.core.settings import Settings

logger = logging.getLogger("ai_worker.bridge")
BATCH = 500
BRIDGE_INTERVAL_SECONDS = 1.0

MOVE_SCRIPT = LuaScript(
    """
local source, target, prefix = KEYS[1], KEYS[2], ARGV[1]
local batch, offset = tonumber(ARGV[2]), tonumber(ARGV[3])
local entries = redis.call('ZRANGE', source, offset, offset + batch - 1, 'WITHSCORES')
local moved, busy = 0, 0
for i = 1, #entries, 2 do
    local job_id, score = entries[i], entries[i + 1]
    local in_progress = prefix .. job_id
    if redis.call('EXISTS', in_progress) == 1 then
        busy = busy + 1
    else
        -- invalidate any WATCH a legacy worker holds on this job before it starts it
        redis.call('SET', in_progress, 'moving', 'PX', 1)
        redis.call('DEL', in_progress)
        redis.call('ZREM', source, job_id)
        redis.call('ZADD', target, score, job_id)
        moved = moved + 1
    end
end
return {moved, busy, #entries / 2}
"""
)


@dataclass(frozen=True)
class DrainResult:
    source: str
    target: str
    moved: int
    in_progress: int


async def drain_queue(redis: Redis, source: str, target: str) -> DrainResult:
    """Move every not-in-progress job from `source` to `target`; in-progress ones stay.

    Atomic per batch of 500; safe to run while legacy workers still consume `source`.
    Raises `ValueError` when source and target are the same queue.
    """
    if source == target:
        raise ValueError(f"--from and --to are the same queue ({source!r})")
    moved = busy = 0
    while True:
        # in-progress jobs stay at the front of the range, so skip past them
        batch_moved, batch_busy, seen = await MOVE_SCRIPT.run(
            redis, [source, target], [in_progress_key_prefix, BATCH, busy]
        )
        moved += int(batch_moved)
        busy += int(batch_busy)
        if int(seen) < BATCH:
            break
    return DrainResult(source=source, target=target, moved=moved, in_progress=busy)


def legacy_queues(settings: Settings) -> list[str]:
    return [
        q
        for q in (settings.long_tasks_queue_name, settings.memory_queue_name)
        if q != settings.queue_name
    ]


async def _bridge_loop(redis: Redis, settings: Settings) -> None:
    while True:
        for source in legacy_queues(settings):
            try:
                result = await drain_queue(redis, source, settings.queue_name)
            except Exception as error:  # a Redis blip must not stop the bridge
                logger.warning("bridge from %s failed: %s", source, error)
                continue
            if result.moved:
                logger.info(
                    "bridged %d job(s) from %s to %s",
                    result.moved,
                    source,
                    settings.queue_name,
                    extra={
                        "fields": {"moved": result.moved, "from": source, "to": settings.queue_name}
                    },
                )
        await asyncio.sleep(BRIDGE_INTERVAL_SECONDS)


bridge_blueprint = Blueprint("legacy_queue_bridge")


@bridge_blueprint.startup
async def start_bridge(ctx: Ctx) -> None:
    settings: Settings = ctx["settings"]
    if settings.bridge_legacy_queues:
        ctx["bridge_task"] = asyncio.create_task(
            _bridge_loop(ctx["redis"], settings), name="bridge"
        )
        logger.info("bridging legacy queues %s to %s", legacy_queues(settings), settings.queue_name)


@bridge_blueprint.shutdown
async def stop_bridge(ctx: Ctx) -> None:
    task: asyncio.Task[None] | None = ctx.pop("bridge_task", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
