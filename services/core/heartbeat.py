"""Per-process worker heartbeats in Redis (arq's single shared health key is not enough).

Every worker process writes its own record every `HEARTBEAT_SECONDS`:

- ``{KEY_PREFIX}worker:{worker_id}``: JSON (id, host, pid, kind, queue, started_at,
  last_heartbeat, jobs done/failed/running, pickled jobs accepted/refused), expiring after
  three missed beats, so a SIGKILLed worker disappears on its own;
- ``{KEY_PREFIX}workers``: sorted set of worker ids scored by last beat, for listing;
- ``{KEY_PREFIX}stats:workers``: all-time totals over the fleet (pickled jobs seen).

A clean shutdown deletes both. `live_workers` reads them for `ai-worker status` and
`ai-worker check`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis

from services.core.instrumentation import STATS
from services.core.metrics import QUEUE_DEPTH, WORKER_UP

logger = logging.getLogger("ai_worker.heartbeat")
MISSED_BEATS_BEFORE_DEAD = 3


def worker_key(prefix: str, worker_id: str) -> str:
    return f"{prefix}worker:{worker_id}"


def workers_index(prefix: str) -> str:
    return f"{prefix}workers"


def fleet_totals_key(prefix: str) -> str:
    """Hash of all-time counts over every worker process (survives restarts)."""
    return f"{prefix}stats:workers"


#: Record fields also summed fleet-wide, so operators can see, e.g., when no producer has
#: sent a pickled job for a while, whatever workers restarted since.
FLEET_COUNTERS = ("pickled_accepted", "pickled_refused")


async def fleet_totals(redis: Redis, prefix: str) -> dict[str, int]:
    raw = await redis.hgetall(fleet_totals_key(prefix))  # type: ignore[misc]
    totals = {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()}
    return {name: totals.get(name, 0) for name in FLEET_COUNTERS}


class Heartbeat:
    """Writes this process's worker record until stopped."""

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str,
        worker_id: str,
        kind: str,
        queue: str,
        interval: float,
        extra: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.worker_id = worker_id
        self.kind = kind
        self.queue = queue
        self.interval = interval
        self.extra = extra
        self.started_at = time.time()
        self.host = socket.gethostname()
        self._task: asyncio.Task[None] | None = None
        self._sent: dict[str, int] = {}

    def record(self) -> dict[str, Any]:
        record = {
            "id": self.worker_id,
            "host": self.host,
            "pid": os.getpid(),
            "kind": self.kind,
            "queue": self.queue,
            "started_at": self.started_at,
            "last_heartbeat": time.time(),
            "jobs_done": STATS.done,
            "jobs_failed": STATS.failed,
            "jobs_cancelled": STATS.cancelled,
            "jobs_running": STATS.running,
        }
        if self.extra is not None:
            record.update(self.extra())
        return record

    async def beat(self) -> None:
        """Write the record once; add this process's new counts to the fleet totals.

        Also refreshes the queue-depth gauge.
        """
        record = self.record()
        ttl_ms = int(self.interval * MISSED_BEATS_BEFORE_DEAD * 1000)
        deltas = {k: record[k] - self._sent.get(k, 0) for k in FLEET_COUNTERS if record.get(k)}
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(worker_key(self.prefix, self.worker_id), json.dumps(record), px=ttl_ms)
            pipe.zadd(workers_index(self.prefix), {self.worker_id: record["last_heartbeat"]})
            for name, delta in deltas.items():
                if delta:
                    pipe.hincrby(fleet_totals_key(self.prefix), name, delta)
            pipe.zcard(self.queue)
            results = await pipe.execute()
        self._sent.update({k: record[k] for k in deltas})
        QUEUE_DEPTH.labels(self.queue).set(results[-1])

    async def _run(self) -> None:
        while True:
            try:
                await self.beat()
            except Exception as error:  # Redis blips must not kill the heartbeat
                logger.warning("heartbeat failed: %s", error)
            await asyncio.sleep(self.interval)

    async def start(self) -> None:
        await self.beat()
        WORKER_UP.labels(self.kind).set(1)
        self._task = asyncio.create_task(self._run(), name="ai-worker-heartbeat")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        WORKER_UP.labels(self.kind).set(0)
        with contextlib.suppress(Exception):
            await self.redis.delete(worker_key(self.prefix, self.worker_id))
            await self.redis.zrem(workers_index(self.prefix), self.worker_id)


async def live_workers(redis: Redis, prefix: str) -> list[dict[str, Any]]:
    """Records of workers whose heartbeat has not expired, newest beat first.

    Index entries of expired workers are pruned on the way.
    """
    ids = [
        i.decode() if isinstance(i, bytes) else i
        for i in await redis.zrange(workers_index(prefix), 0, -1)
    ]
    if not ids:
        return []
    raw = await redis.mget([worker_key(prefix, i) for i in ids])
    records, dead = [], []
    for worker_id, value in zip(ids, raw, strict=True):
        if value is None:
            dead.append(worker_id)
        else:
            records.append(json.loads(value))
    if dead:
        await redis.zrem(workers_index(prefix), *dead)
    return sorted(records, key=lambda r: r["last_heartbeat"], reverse=True)
