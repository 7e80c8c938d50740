"""L2 scan time with 10,000 and 100,000 topics, 1,000 of them due in both cases.

    python -m bench.memory_scan            # BENCH_REDIS_DB (default 8), unique key prefix

Each run finds the due topics and enqueues an update for every one (one Lua call); the
enqueued jobs are removed between runs so every run does the full work.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import UTC, datetime

from arq.constants import job_key_prefix

from bench._memory_common import bench_settings, cleanup, client
from services.memory.queue import due_key
from services.memory.scan import scan, update_job_id

DUE = 1_000
RUNS = 9


async def measure(topics: int) -> float:
    settings = bench_settings()
    redis = client(settings)
    queue = f"{settings.key_prefix}arq:queue"
    now = datetime.now(UTC)
    future = now.timestamp() + 3600
    try:
        for start in range(0, topics, 10_000):
            async with redis.pipeline(transaction=False) as pipe:
                scores = {
                    f"t{i}": (0.0 if i % (topics // DUE) == 0 else future)
                    for i in range(start, start + 10_000)
                }
                pipe.zadd(due_key(settings), scores)
                await pipe.execute()
        timings = []
        for _ in range(RUNS):
            started = time.perf_counter()
            result = await scan(redis, settings, now=now, queue_name=queue)
            timings.append((time.perf_counter() - started) * 1000)
            assert len(result.due) == DUE and len(result.enqueued) == DUE, (
                len(result.due),
                len(result.enqueued),
            )
            await redis.delete(
                queue, *[job_key_prefix + update_job_id(settings, t) for t in result.enqueued]
            )
        return statistics.median(timings)
    finally:
        await cleanup(redis, f"{settings.key_prefix}*", f"{job_key_prefix}{settings.key_prefix}*")
        await redis.aclose()


async def main() -> None:
    small = await measure(10_000)
    large = await measure(100_000)
    print(f"scan, 10,000 topics / {DUE} due:  {small:6.2f} ms (median of {RUNS})")
    print(f"scan, 100,000 topics / {DUE} due: {large:6.2f} ms (median of {RUNS}; bar < 10 ms)")
    print(f"ratio 100k/10k: {large / small:.2f}x (bar <= 1.5x)")


if __name__ == "__main__":
    asyncio.run(main())
