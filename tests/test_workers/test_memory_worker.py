"""Real memory workers (the mode's worker, legacy and unified): updates, crashes, bad input."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.serialization import RemoteJobError
from services.core.settings import Settings
from services.memory import store
from services.memory.api import enqueue_topic_update, get_topic_memory, push_message
from services.memory.queue import TopicKeys
from services.memory.scan import update_job_id
from tests.support.polling import wait_for
from tests.support.processes import WorkerProcess
from tests.support.services import LEGACY_SETTINGS, UNIFIED_SETTINGS, worker_target
from tests.test_memory.conftest import msg
from tests.test_memory.llm_server import fake_llm

Sessions = async_sessionmaker[AsyncSession]


def queue_of(target: str, settings: Settings) -> str:
    return (
        settings.memory_queue_name if target == LEGACY_SETTINGS["memory"] else settings.queue_name
    )


async def ledger(sessions: Sessions, topic: str) -> list[str]:
    async with sessions() as session:
        rows = await session.execute(
            sa.select(store.topic_memory_messages.c.message_id).where(
                store.topic_memory_messages.c.topic_id == topic
            )
        )
        return [r[0] for r in rows]


async def fully_folded(
    pool: ArqRedis, settings: Settings, sessions: Sessions, topic: str, ids: list[str], queue: str
) -> bool:
    """True once every id is folded and Redis is empty; (re-)asks for an update otherwise."""
    stored = await get_topic_memory(topic, sessions=sessions)
    pending = await pool.zcard(TopicKeys.of(settings, topic).queue)
    if stored is not None and stored.message_count == len(ids) and pending == 0:
        return True
    await enqueue_topic_update(pool, topic, settings=settings, queue_name=queue)
    return False


async def assert_exactly_once(sessions: Sessions, topic: str, ids: list[str]) -> None:
    folded = await ledger(sessions, topic)
    assert sorted(folded) == sorted(ids)  # every message, each once
    stored = await get_topic_memory(topic, sessions=sessions)
    assert stored is not None and stored.message_count == len(ids)


async def push_all(pool: ArqRedis, settings: Settings, topic: str, ids: range) -> list[str]:
    for i in ids:
        await push_message(pool, topic_id=topic, group_id="g", message=msg(i), settings=settings)
    return [f"m{i}" for i in ids]


async def test_worker_updates_memory_and_survives_bad_input(
    start_worker: Callable[..., WorkerProcess],
    arq_pool: ArqRedis,
    settings: Settings,
    db_sessions: Sessions,
) -> None:
    target = worker_target("memory")
    queue = queue_of(target, settings)
    worker = start_worker(target)
    bad_type = await arq_pool.enqueue_job("task_update_topic_memory", 123, _queue_name=queue)
    unknown = await arq_pool.enqueue_job(
        "task_update_topic_memory", "no-such-topic", _queue_name=queue
    )
    assert bad_type is not None and unknown is not None
    with pytest.raises(RemoteJobError, match="topic_id: expected a string"):
        await bad_type.result(timeout=20)
    with pytest.raises(RemoteJobError, match=r"UnknownTopic.*no pending messages and no memory"):
        await unknown.result(timeout=20)
    ids = await push_all(arq_pool, settings, "t1", range(5))
    await wait_for(
        lambda: fully_folded(arq_pool, settings, db_sessions, "t1", ids, queue), message="fold"
    )
    await assert_exactly_once(db_sessions, "t1", ids)
    assert worker.running()


async def _recover(
    start_worker: Callable[..., WorkerProcess],
    pool: ArqRedis,
    settings: Settings,
    sessions: Sessions,
    ids: list[str],
    target: str,
    env: dict[str, str] | None = None,
) -> None:
    # the killed job's in-progress key would expire after arq's timeout; expire it now
    await pool.delete(f"arq:in-progress:{update_job_id(settings, 't1')}")
    start_worker(target, env=env)
    queue = queue_of(target, settings)
    await wait_for(
        lambda: fully_folded(pool, settings, sessions, "t1", ids, queue),
        timeout=40,
        message="recovery",
    )
    await assert_exactly_once(sessions, "t1", ids)


@pytest.mark.slow
async def test_sigkill_between_commit_and_trim(
    start_worker: Callable[..., WorkerProcess],
    arq_pool: ArqRedis,
    settings: Settings,
    db_sessions: Sessions,
) -> None:
    target = worker_target("memory")
    worker = start_worker(target, env={"AI_WORKER_TEST_PAUSE_AT": "after_commit"})
    ids = await push_all(arq_pool, settings, "t1", range(6))
    assert await enqueue_topic_update(
        arq_pool, "t1", settings=settings, queue_name=queue_of(target, settings)
    )
    await wait_for(lambda: _async("test pause at after_commit" in worker.output()), message="pause")
    worker.signal(signal.SIGKILL)
    worker.wait(10)
    stored = await get_topic_memory("t1", sessions=db_sessions)
    assert stored is not None and stored.message_count == 6  # committed ...
    assert await arq_pool.zcard(TopicKeys.of(settings, "t1").queue) == 6  # ... but not trimmed
    ids += await push_all(arq_pool, settings, "t1", range(6, 9))
    await _recover(start_worker, arq_pool, settings, db_sessions, ids, target)


@pytest.mark.slow
async def test_sigkill_during_summarizer(
    start_worker: Callable[..., WorkerProcess],
    arq_pool: ArqRedis,
    settings: Settings,
    db_sessions: Sessions,
) -> None:
    target = worker_target("memory")
    with fake_llm() as llm:
        llm.script = ["hang", "ok"]
        env = {"SUMMARIZER": "llm", "LLM_BASE_URL": llm.base_url, "LLM_TIMEOUT_SECONDS": "30"}
        worker = start_worker(target, env=env)
        ids = await push_all(arq_pool, settings, "t1", range(7))
        assert await enqueue_topic_update(
            arq_pool, "t1", settings=settings, queue_name=queue_of(target, settings)
        )
        await wait_for(lambda: _async(len(llm.requests) >= 1), message="summarizer called")
        worker.signal(signal.SIGKILL)
        worker.wait(10)
        assert await get_topic_memory("t1", sessions=db_sessions) is None  # nothing committed
        assert await arq_pool.zcard(TopicKeys.of(settings, "t1").queue) == 7  # nothing lost
        ids += await push_all(arq_pool, settings, "t1", range(7, 10))
        await _recover(start_worker, arq_pool, settings, db_sessions, ids, target, env=env)
        stored = await get_topic_memory("t1", sessions=db_sessions)
        assert stored is not None and stored.memory.summarizer == "llm"


@pytest.mark.slow
@pytest.mark.transition
async def test_legacy_and_unified_update_one_topic_while_messages_arrive(
    start_worker: Callable[..., WorkerProcess],
    arq_pool: ArqRedis,
    settings: Settings,
    db_sessions: Sessions,
) -> None:
    start_worker(LEGACY_SETTINGS["memory"])
    start_worker(UNIFIED_SETTINGS)
    queues = [settings.memory_queue_name, settings.queue_name]
    ids: list[str] = []
    jobs = []
    for batch in range(30):
        ids += await push_all(arq_pool, settings, "t1", range(batch * 4, batch * 4 + 4))
        for queue in queues:  # random job ids: both workers really race for the topic
            jobs.append(
                await arq_pool.enqueue_job(
                    "task_update_topic_memory", "t1", _queue_name=queue, _job_id=uuid.uuid4().hex
                )
            )
        await asyncio.sleep(0.01)  # pacing the producer, not synchronisation
    results = [await job.result(timeout=30) for job in jobs if job is not None]
    await wait_for(
        lambda: fully_folded(arq_pool, settings, db_sessions, "t1", ids, queues[1]),
        message="all folded",
    )
    await assert_exactly_once(db_sessions, "t1", ids)
    statuses = {r["status"] for r in results}
    assert "updated" in statuses
    stored = await get_topic_memory("t1", sessions=db_sessions)
    assert stored is not None
    updated = [r for r in results if r["status"] == "updated"]
    assert sorted(r["version"] for r in updated) == list(
        range(1, len(updated) + 1)
    )  # no lost update
    async with db_sessions() as session:
        versions = await session.execute(
            sa.select(store.topic_memory_messages.c.version).distinct()
        )
        assert sorted(v[0] for v in versions) == list(range(1, stored.version + 1))


async def _async(value: bool) -> bool:
    return value
