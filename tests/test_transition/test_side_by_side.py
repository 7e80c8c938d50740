"""Legacy and unified workers side by side on one Redis and one database.

Two unified workers, the legacy long-task worker and the legacy memory worker run
together while long tasks and chat messages flow the whole time. The cron clock of every
worker runs 60x fast (tests/support/warp: one real second is one cron minute, all workers
agree on the warped time), so well over 30 ticks of the long-task poll and the L2 scan and
one daily consensus happen in under a minute. Afterwards:

- every cron tick ran exactly once across the fleet (read from the workers' JSON logs);
- every long task ran exactly once and never twice at once;
- every message was folded exactly once (the fold ledger, by message id);
- no job failed, and none for lack of its function.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from arq.connections import ArqRedis
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import tests.support.long_task_handlers as handlers
from services.core.settings import Settings
from services.long_tasks.api import submit_task
from services.long_tasks.models import tasks
from services.memory import store
from services.memory.api import enqueue_topic_update, get_topic_memory, push_message
from services.memory.queue import TopicKeys
from tests.support.polling import wait_for
from tests.support.processes import WorkerProcess

pytestmark = [pytest.mark.slow, pytest.mark.transition]
Sessions = async_sessionmaker[AsyncSession]

REPO_ROOT = Path(__file__).resolve().parents[2]
WARP_DIR = REPO_ROOT / "tests" / "support" / "warp"
TICKS = 32
GROUPS = {"gA": ["a0", "a1", "a2"], "gB": ["b0", "b1", "b2"]}
TOPIC_GROUP = {topic: group for group, topics in GROUPS.items() for topic in topics}
AGREED = {
    "gA": "The launch moves to Monday after the review.",
    "gB": "Budget approval needs two signatures.",
}
WORKERS = [
    "app.long_tasks.worker.WorkerSettings",
    "app.memory.worker.WorkerSettings",
    "app.workers.unified_worker.UnifiedWorkerSettings",
    "app.workers.unified_worker.UnifiedWorkerSettings",
]


def warp_env() -> dict[str, str]:
    """60x cron clock starting at hh:45 about 3 h ago; the consensus hour comes ~15 s in.

    Warped time must stay behind real time (arq would defer a cron job into the real
    future) but by less than a day (arq expires a job a day after its due time): it starts
    2-3 h behind and gains at most 2 h in the 2 minutes the test may take.
    """
    anchor = time.time()
    origin = (datetime.now(UTC) - timedelta(hours=3)).replace(minute=45, second=0, microsecond=0)
    return {
        "AIW_WARP": f"{anchor} {origin.timestamp()} 60",
        "PYTHONPATH": f"{WARP_DIR}:{REPO_ROOT}",
        "WORKER_TIMEZONE": "UTC",
        "CONSENSUS_HOUR": str((origin.hour + 1) % 24),
        "L2_SCAN_INTERVAL_MINUTES": "1",
        "L2_QUEUE_TRIGGER_THRESHOLD": "3",
        "LONG_TASK_MODULES": "tests.support.long_task_handlers",
        "LOG_FORMAT": "json",
        "HEARTBEAT_SECONDS": "1",
    }


async def cron_results(redis: Redis, name: str) -> int:
    return len(await redis.keys(f"arq:result:{name}:*"))


def log_records(workers: list[WorkerProcess]) -> list[dict[str, Any]]:
    records = []
    for worker in workers:
        for line in worker.output().splitlines():
            if line.startswith("{"):
                record = json.loads(line)
                record["_worker"] = worker.args[-1]
                records.append(record)
    return records


async def all_tasks_succeeded(sessions: Sessions, expected: int) -> bool:
    async with sessions() as session:
        rows = (
            await session.execute(
                sa.select(tasks.c.status, sa.func.count()).group_by(tasks.c.status)
            )
        ).all()
    return dict(rows) == {"succeeded": expected}


async def folded(
    pool: ArqRedis, settings: Settings, sessions: Sessions, topic: str, count: int
) -> bool:
    stored = await get_topic_memory(topic, sessions=sessions)
    if (
        stored is not None
        and stored.message_count == count
        and not await pool.zcard(TopicKeys.of(settings, topic).queue)
    ):
        return True
    await enqueue_topic_update(pool, topic, settings=settings, queue_name=settings.queue_name)
    return False


async def test_side_by_side_over_many_cron_ticks(
    start_worker: Callable[..., WorkerProcess],
    arq_pool: ArqRedis,
    redis: Redis,
    settings: Settings,
    db_sessions: Sessions,
) -> None:
    env = warp_env()
    workers = [start_worker(path, env=env) for path in WORKERS]
    submitted = 0
    pushed: dict[str, list[str]] = {topic: [] for topic in TOPIC_GROUP}
    n = 0

    async def enough_ticks() -> bool:
        polls = await cron_results(redis, "cron:long_tasks_poll")
        scans = await cron_results(redis, "cron:l2_scan")
        consensus = await cron_results(redis, "cron:consensus_daily")
        return polls >= TICKS and scans >= TICKS and consensus >= 1

    deadline = time.monotonic() + 120
    while not await enough_ticks():  # traffic flows for the whole run
        assert time.monotonic() < deadline, "cron ticks did not arrive"
        async with db_sessions() as session, session.begin():
            await submit_task(handlers.RECORD, {"n": n}, session=session)
        submitted += 1
        for topic, group in TOPIC_GROUP.items():
            message_id = f"{topic}-m{n}"
            text = AGREED[group] if n % 2 == 0 else f"Note {n} on {topic}: nothing else to add."
            await push_message(
                arq_pool,
                topic_id=topic,
                group_id=group,
                message={
                    "id": message_id,
                    "author": f"u{n % 3}",
                    "role": "user",
                    "text": text,
                    "timestamp": datetime.now(UTC),
                },
                settings=settings,
            )
            pushed[topic].append(message_id)
        n += 1
        await asyncio.sleep(0.5)  # pacing the producer, not synchronisation

    await wait_for(
        lambda: all_tasks_succeeded(db_sessions, submitted),
        timeout=60,
        message="all long tasks done",
    )
    for topic, ids in pushed.items():
        await wait_for(
            lambda t=topic, c=len(ids): folded(arq_pool, settings, db_sessions, t, c),  # noqa: B008
            timeout=60,
            interval=0.3,
            message=f"{topic} folded",
        )
    for worker in workers:
        worker.stop()

    # every cron tick ran once across the four workers, and enough of them ran
    records = log_records(workers)
    starts = Counter(
        r["job_id"]
        for r in records
        if str(r.get("function", "")).startswith("cron:") and "outcome" not in r
    )
    assert starts and max(starts.values()) == 1, [k for k, v in starts.items() if v > 1]
    per_cron = Counter(job_id.rsplit(":", 1)[0] for job_id in starts)
    assert per_cron["cron:long_tasks_poll"] >= TICKS
    assert per_cron["cron:l2_scan"] >= TICKS
    assert per_cron["cron:consensus_daily"] == 1
    ran_on = {r["_worker"] for r in records if str(r.get("function", "")).startswith("cron:")}
    assert len(ran_on) >= 2, "cron ticks were spread over legacy and unified workers"

    # each poll and scan tick logged its summary
    summaries = Counter(
        r["message"].split(":")[0] for r in records if r["logger"] != "ai_worker.jobs"
    )
    assert summaries["long-task poll"] >= TICKS and summaries["L2 scan"] >= TICKS

    # no job failed, none for lack of its function
    failed = [r for r in records if r.get("outcome") == "failed"]
    assert not failed, failed[:3]
    assert not [r for r in records if "not found" in r.get("message", "")]

    # long tasks: each ran exactly once, never two runs of one task at once
    runs = [int(x) for x in await redis.lrange(f"{settings.key_prefix}lt:runs", 0, -1)]
    assert len(runs) == len(set(runs)) == submitted
    assert await redis.llen(f"{settings.key_prefix}lt:overlaps") == 0

    # messages: every one folded exactly once
    async with db_sessions() as session:
        rows = (
            await session.execute(
                sa.select(
                    store.topic_memory_messages.c.topic_id, store.topic_memory_messages.c.message_id
                )
            )
        ).all()
    ledger: dict[str, list[str]] = {}
    for topic, message_id in rows:
        ledger.setdefault(topic, []).append(message_id)
    assert {t: sorted(ids) for t, ids in ledger.items()} == {
        t: sorted(ids) for t, ids in pushed.items()
    }

    # the daily consensus ran once per changed group and found the planted agreement
    async with db_sessions() as session:
        consensus = (await session.execute(sa.select(store.group_consensus))).all()
    assert {row.group_id for row in consensus} <= set(GROUPS)
    assert all(row.version == 1 for row in consensus)
