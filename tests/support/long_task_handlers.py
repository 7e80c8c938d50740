"""Long-task handlers for the tests, loaded by workers through `LONG_TASK_MODULES`.

Side effects go to Redis under the test's `KEY_PREFIX` (from the worker's settings), so a
test can count exactly what ran, in this process or in a worker process.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from redis.asyncio import Redis

from services.long_tasks.context import TaskContext
from services.long_tasks.registry import long_task

STEPS = "test.steps"
FAIL = "test.fail"
SLOW = "test.slow"
POISON = "test.poison"
RECORD = "test.record"


def redis_of(ctx: TaskContext) -> tuple[Redis, str]:
    """The worker's Redis client and this test's key prefix."""
    settings = ctx.resources["settings"]
    return ctx.resources["redis"], settings.key_prefix


def effects_key(prefix: str, task_id: int) -> str:
    return f"{prefix}lt:effects:{task_id}"


@long_task(STEPS, max_attempts=3)
async def steps(ctx: TaskContext, payload: dict[str, Any]) -> dict[str, Any]:
    """`steps` steps of `step_seconds`, one effect and one checkpoint per step; then "done"."""
    redis, prefix = redis_of(ctx)
    key = effects_key(prefix, ctx.task_id)
    start = int((ctx.checkpoint or {}).get("step", 0))
    await redis.rpush(key, f"attempt:{ctx.attempt}:from:{start}:pid:{os.getpid()}")
    try:
        for step in range(start, int(payload["steps"])):
            await asyncio.sleep(float(payload.get("step_seconds", 0.1)))
            await redis.rpush(key, f"step:{step}")
            await ctx.save_checkpoint({"step": step + 1})
    except asyncio.CancelledError:
        await redis.rpush(key, "cancelled")
        raise
    await redis.rpush(key, "done")
    return {"resumed_from": start, "attempt": ctx.attempt}


@long_task(FAIL, max_attempts=3)
async def fail(ctx: TaskContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Always raises; records the time of each attempt."""
    redis, prefix = redis_of(ctx)
    await redis.rpush(effects_key(prefix, ctx.task_id), repr(asyncio.get_running_loop().time()))
    raise RuntimeError(f"boom on attempt {ctx.attempt}")


@long_task(SLOW, max_attempts=1, timeout=0.3)
async def slow(ctx: TaskContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Sleeps past its 0.3 s timeout."""
    await asyncio.sleep(30)
    return {}


@long_task(POISON, max_attempts=1)
async def poison(ctx: TaskContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Raises on a payload with "poison"; otherwise returns its value."""
    if payload.get("poison"):
        raise ValueError("poisoned payload")
    return {"value": payload["value"]}


@long_task(RECORD, max_attempts=3)
async def record(ctx: TaskContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Counts runs per task and flags any overlap (two runs of one task at once)."""
    redis, prefix = redis_of(ctx)
    running = await redis.incr(f"{prefix}lt:running:{ctx.task_id}")
    if running > 1:
        await redis.rpush(f"{prefix}lt:overlaps", ctx.task_id)
    await redis.rpush(f"{prefix}lt:runs", ctx.task_id)
    await asyncio.sleep(0)
    await redis.decr(f"{prefix}lt:running:{ctx.task_id}")
    return {"pid": os.getpid()}
