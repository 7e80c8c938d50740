"""L2 queues against real Redis: push, de-duplication, the cap, the due rule and the scan."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from redis.asyncio import Redis

from services.core.clock import FakeClock
from services.core.metrics import L2_DROPPED_MESSAGES
from services.core.settings import Settings
from services.memory.api import push_message
from services.memory.models import MAX_TEXT_CHARS, InvalidMessage
from services.memory.queue import TopicKeys, backlog_summary, due_key, push, read_pending
from services.memory.scan import scan, update_job_id
from tests.test_memory.conftest import msg


def with_(settings: Settings, **values: object) -> Settings:
    return settings.model_copy(update=values)


async def test_push_assigns_sequence_and_returns_length(redis: Redis, settings: Settings) -> None:
    for i in range(3):
        assert (
            await push_message(
                redis, topic_id="t1", group_id="g", message=msg(i), settings=settings
            )
            == i + 1
        )
    state = await read_pending(redis, settings, "t1", after_seq=0, limit=10)
    assert [p.seq for p in state.pending] == [1, 2, 3]
    assert [p.message.id for p in state.pending] == ["m0", "m1", "m2"]
    assert state.group_id == "g"
    assert all(k.decode().startswith(settings.key_prefix) for k in await redis.keys("*"))


async def test_duplicate_message_id_is_stored_once(redis: Redis, settings: Settings) -> None:
    first = await push(redis, topic_id="t1", group_id="g", message=msg(1), settings=settings)
    again = await push(
        redis, topic_id="t1", group_id="g", message=msg(1, "other text"), settings=settings
    )
    assert (first.length, first.duplicate) == (1, False)
    assert (again.length, again.duplicate, again.seq) == (1, True, first.seq)
    assert await redis.zcard(TopicKeys.of(settings, "t1").queue) == 1


async def test_threshold_makes_topic_due_at_once(redis: Redis, settings: Settings) -> None:
    settings = with_(settings, l2_queue_trigger_threshold=3)
    clock = FakeClock()
    for i in range(2):
        await push_message(
            redis, topic_id="t1", group_id="g", message=msg(i), settings=settings, clock=clock
        )
    assert (await scan(redis, settings, now=clock(), queue_name="q")).due == []
    await push_message(
        redis, topic_id="t1", group_id="g", message=msg(2), settings=settings, clock=clock
    )
    result = await scan(redis, settings, now=clock(), queue_name="q")
    assert result.due == ["t1"] and result.enqueued == ["t1"]


async def test_forced_update_after_interval(redis: Redis, settings: Settings) -> None:
    clock = FakeClock()
    await push_message(
        redis, topic_id="t1", group_id="g", message=msg(1), settings=settings, clock=clock
    )
    clock.advance(minutes=59, seconds=59)
    assert (await scan(redis, settings, now=clock(), queue_name="q")).due == []
    clock.advance(seconds=1)
    assert (await scan(redis, settings, now=clock(), queue_name="q")).due == ["t1"]


async def test_cap_drops_oldest_loudly(
    redis: Redis, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings = with_(settings, l2_queue_max_len=5, l2_queue_trigger_threshold=5)
    before = L2_DROPPED_MESSAGES._value.get()
    clock = FakeClock()
    with caplog.at_level(logging.WARNING, logger="ai_worker.memory"):
        for i in range(8):
            length = await push_message(
                redis, topic_id="t1", group_id="g", message=msg(i), settings=settings, clock=clock
            )
            assert length == min(i + 1, 5)
    state = await read_pending(redis, settings, "t1", after_seq=0, limit=10)
    assert [p.message.id for p in state.pending] == ["m3", "m4", "m5", "m6", "m7"]
    assert state.dropped == 3
    assert L2_DROPPED_MESSAGES._value.get() - before == 3
    assert sum("dropped" in r.getMessage() for r in caplog.records) == 3
    assert await redis.zscore(due_key(settings), "t1") == clock().timestamp()
    summary = await backlog_summary(redis, settings, now=clock().timestamp())
    assert summary == {"topics_pending": 1, "topics_due": 1, "dropped_messages": 3}


async def test_scan_touches_only_due_topics_and_is_idempotent(
    redis: Redis, settings: Settings
) -> None:
    settings = with_(settings, l2_queue_trigger_threshold=2)
    clock = FakeClock()
    for topic in ("busy1", "busy2"):
        for i in range(2):
            await push_message(
                redis, topic_id=topic, group_id="g", message=msg(i), settings=settings, clock=clock
            )
    for n in range(50):
        await push_message(
            redis,
            topic_id=f"quiet{n}",
            group_id="g",
            message=msg(0),
            settings=settings,
            clock=clock,
        )
    first = await scan(redis, settings, now=clock(), queue_name="q")
    assert sorted(first.due) == ["busy1", "busy2"]
    assert sorted(first.enqueued) == ["busy1", "busy2"]
    assert await redis.zcard("q") == 2
    again = await scan(redis, settings, now=clock(), queue_name="q")
    assert sorted(again.due) == ["busy1", "busy2"] and again.enqueued == []
    assert await redis.zcard("q") == 2
    assert await redis.exists(f"arq:job:{update_job_id(settings, 'busy1')}")
    # a stale result of a finished update does not block the next one
    await redis.delete(f"arq:job:{update_job_id(settings, 'busy1')}")
    await redis.set(f"arq:result:{update_job_id(settings, 'busy1')}", b"x")
    assert (
        await scan(redis, settings, now=clock() + timedelta(seconds=1), queue_name="q")
    ).enqueued == ["busy1"]


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (msg(1, "x" * (MAX_TEXT_CHARS + 1)), "text"),
        ({k: v for k, v in msg(1).items() if k != "author"}, "author"),
        ({**msg(1), "id": 123}, "id"),
        ({**msg(1), "metadata": {"blob": "y" * 5000}}, "metadata"),
        ({**msg(1), "surprise": 1}, "surprise"),
    ],
)
async def test_bad_messages_are_refused_naming_the_field(
    redis: Redis, settings: Settings, message: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidMessage, match=field):
        await push_message(redis, topic_id="t1", group_id="g", message=message, settings=settings)
    assert await redis.dbsize() == 0


async def test_bad_ids_are_refused(redis: Redis, settings: Settings) -> None:
    with pytest.raises(InvalidMessage, match="topic_id"):
        await push_message(redis, topic_id=5, group_id="g", message=msg(1), settings=settings)  # type: ignore[arg-type]
    with pytest.raises(InvalidMessage, match="group_id"):
        await push_message(redis, topic_id="t", group_id="", message=msg(1), settings=settings)
    await push_message(redis, topic_id="t", group_id="g1", message=msg(1), settings=settings)
    with pytest.raises(InvalidMessage, match="belongs to group g1"):
        await push_message(redis, topic_id="t", group_id="g2", message=msg(2), settings=settings)
