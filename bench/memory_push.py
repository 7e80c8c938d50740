"""`push_message` rate against a plain RPUSH loop on the same connection.

python -m bench.memory_push            # BENCH_REDIS_DB (default 8), unique key prefix
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime

from bench._memory_common import bench_settings, cleanup, client
from services.memory.api import push_message

N = 20_000
TOPICS = 200
CHUNK = 1_000


async def main() -> None:
    settings = bench_settings(l2_queue_max_len=1000, l2_queue_trigger_threshold=10)
    redis = client(settings)
    now = datetime.now(UTC)
    messages = [
        {
            "id": f"m{i}",
            "author": "alice",
            "role": "user",
            "text": f"message {i} about the plan.",
            "timestamp": now,
        }
        for i in range(N)
    ]
    bodies = [json.dumps({**m, "timestamp": now.isoformat()}) for m in messages]
    try:
        await redis.ping()
        plain_s = pushed_s = 0.0
        # Interleaved chunks, so load from anything else on the machine hits both alike.
        for chunk in range(0, N, CHUNK):
            started = time.perf_counter()
            for i in range(chunk, chunk + CHUNK):
                await redis.rpush(f"{settings.key_prefix}plain:{i % TOPICS}", bodies[i])
            plain_s += time.perf_counter() - started
            started = time.perf_counter()
            for i in range(chunk, chunk + CHUNK):
                await push_message(
                    redis,
                    topic_id=f"t{i % TOPICS}",
                    group_id="g",
                    message=messages[i],
                    settings=settings,
                )
            pushed_s += time.perf_counter() - started
        plain, pushed = N / plain_s, N / pushed_s
        print(f"plain RPUSH loop:  {plain:10,.0f} msg/s")
        print(f"push_message loop: {pushed:10,.0f} msg/s  ({pushed / plain:.2f}x, bar >= 0.5x)")
    finally:
        await cleanup(redis, f"{settings.key_prefix}*")
        await redis.aclose()


if __name__ == "__main__":
    asyncio.run(main())
