"""Topic updates and consensus in-process, against real Redis and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.clock import FakeClock
from services.core.settings import Settings
from services.memory import store
from services.memory.api import get_consensus, get_topic_memory, push_message
from services.memory.consensus import distill_consensus
from services.memory.queue import TopicKeys, due_key
from services.memory.summarizer import ExtractiveSummarizer
from services.memory.text import split_sentences, strip_negation
from services.memory.topic_memory import MAX_KEY_POINTS, MAX_SUMMARY_CHARS
from services.memory.update import UnknownTopic, update_topic_memory
from tests.test_memory.conftest import msg

Sessions = async_sessionmaker[AsyncSession]


async def update(
    redis: Redis, sessions: Sessions, settings: Settings, topic: str, **kw: object
) -> dict[str, object]:
    result = await update_topic_memory(
        redis=redis,
        sessions=sessions,
        settings=settings,
        topic_id=topic,
        summarizer=ExtractiveSummarizer(),
        **kw,  # type: ignore[arg-type]
    )
    return result.as_dict()


async def folded_ids(sessions: Sessions, topic: str) -> list[str]:
    async with sessions() as session:
        rows = await session.execute(
            sa.select(store.topic_memory_messages.c.message_id).where(
                store.topic_memory_messages.c.topic_id == topic
            )
        )
        return sorted(r[0] for r in rows)


async def test_update_folds_pending_and_trims_redis(
    redis: Redis, db_sessions: Sessions, settings: Settings
) -> None:
    texts = [
        "我们决定下周一发布新版本。测试已经全部通过！",
        "Release is on Monday. All tests pass.",
        "好的。",
    ]
    for i, text in enumerate(texts):
        await push_message(
            redis,
            topic_id="t1",
            group_id="g",
            message=msg(i, text, author=f"u{i % 2}"),
            settings=settings,
        )
    result = await update(redis, db_sessions, settings, "t1")
    assert result["status"] == "updated" and result["folded"] == 3 and result["remaining"] == 0
    stored = await get_topic_memory("t1", sessions=db_sessions)
    assert stored is not None
    assert (stored.version, stored.watermark, stored.message_count) == (1, 3, 3)
    assert stored.memory.participants == {"u0": 2, "u1": 1}
    assert any("发布新版本" in p.text for p in stored.memory.key_points)
    assert all(p.evidence for p in stored.memory.key_points)
    assert stored.memory.summary
    assert await redis.zcard(TopicKeys.of(settings, "t1").queue) == 0
    assert await redis.zscore(due_key(settings), "t1") is None
    again = await update(redis, db_sessions, settings, "t1")
    assert again["status"] == "nothing_pending" and again["version"] == 1


async def test_replay_after_commit_skips_folded_messages(
    redis: Redis, db_sessions: Sessions, settings: Settings
) -> None:
    """A crash between commit and trim: the messages stay in Redis and are not folded twice."""
    for i in range(4):
        await push_message(redis, topic_id="t1", group_id="g", message=msg(i), settings=settings)
    keys = TopicKeys.of(settings, "t1")
    saved = await redis.zrange(keys.queue, 0, -1, withscores=True)
    ids = await redis.hgetall(keys.ids)
    await update(redis, db_sessions, settings, "t1")
    # put the folded messages back, as if the trim never happened, plus one new message
    await redis.zadd(keys.queue, dict(saved))
    await redis.hset(keys.ids, mapping=ids)
    await push_message(redis, topic_id="t1", group_id="g", message=msg(9), settings=settings)
    result = await update(redis, db_sessions, settings, "t1")
    assert result["folded"] == 1 and result["remaining"] == 0
    stored = await get_topic_memory("t1", sessions=db_sessions)
    assert stored is not None and stored.message_count == 5
    assert await folded_ids(db_sessions, "t1") == ["m0", "m1", "m2", "m3", "m9"]


async def test_unknown_topic_is_a_clear_error(
    redis: Redis, db_sessions: Sessions, settings: Settings
) -> None:
    with pytest.raises(UnknownTopic, match="no pending messages and no memory"):
        await update(redis, db_sessions, settings, "nope")


async def test_memory_stays_bounded(
    redis: Redis, db_sessions: Sessions, settings: Settings
) -> None:
    for batch in range(12):
        for i in range(10):
            n = batch * 10 + i
            text = f"Point {n} is about subsystem {n} and its metric {n * 7}. 第{n}个问题需要处理。"
            await push_message(
                redis, topic_id="t1", group_id="g", message=msg(n, text), settings=settings
            )
        await update(redis, db_sessions, settings, "t1")
    stored = await get_topic_memory("t1", sessions=db_sessions)
    assert stored is not None and stored.message_count == 120 and stored.version == 12
    assert len(stored.memory.key_points) <= MAX_KEY_POINTS
    assert len(stored.memory.summary) <= MAX_SUMMARY_CHARS


def test_sentence_splitting_and_negation() -> None:
    assert split_sentences("你好。今天天气不错！是吗？Yes. Version 3.5 works!") == [
        "你好。",
        "今天天气不错！",
        "是吗？",
        "Yes.",
        "Version 3.5 works!",
    ]
    assert strip_negation("We should not use MongoDB")[1] is True
    assert strip_negation("We don't like it")[1] is True
    assert strip_negation("我们不应该使用微服务")[1] is True
    assert strip_negation("我们应该使用微服务") == ("我们应该使用微服务", False)


async def test_extractive_is_deterministic_and_merges_near_duplicates() -> None:
    from services.memory.models import Message

    messages = [
        Message.model_validate(msg(1, "We will migrate the database to PostgreSQL 16.")),
        Message.model_validate(msg(2, "we will migrate the database to postgresql 16!")),
        Message.model_validate(msg(3, "Lunch is at noon today, see you there.")),
    ]
    digest = ExtractiveSummarizer().digest("", messages)
    assert digest == ExtractiveSummarizer().digest("", messages)
    assert digest.key_points[0].evidence == ["m1", "m2"]
    assert len(digest.key_points) == 2


async def test_consensus_on_planted_data(
    redis: Redis, db_sessions: Sessions, settings: Settings
) -> None:
    plan = {
        "a": [
            "We should release on Monday.",
            "The login page needs a dark mode.",
            "Use PostgreSQL for storage.",
        ],
        "b": [
            "We should release on Monday!",
            "我们需要更多的测试覆盖率。",
            "Use PostgreSQL for storage.",
        ],
        "c": [
            "我们需要更多的测试覆盖率。",
            "Coffee machine is broken again today.",
            "Do not use PostgreSQL for storage.",
        ],
    }
    for topic, texts in plan.items():
        for i, text in enumerate(texts):
            await push_message(
                redis,
                topic_id=topic,
                group_id="g",
                message=msg(f"{topic}{i}", text),
                settings=settings,
            )
        await update(redis, db_sessions, settings, topic)
    clock = FakeClock()
    consensus = await distill_consensus(
        sessions=db_sessions, settings=settings, group_id="g", clock=clock
    )
    agreed = {s.text for s in consensus.agreed}
    assert "We should release on Monday." in agreed
    assert "我们需要更多的测试覆盖率。" in agreed
    assert not any("dark mode" in t or "Coffee" in t for t in agreed)
    storage = [s for s in consensus.statements if "PostgreSQL" in s.text]
    assert len(storage) == 1 and storage[0].disputed and storage[0].opposed_by == ["c"]
    assert storage[0].text not in agreed
    monday = next(s for s in consensus.statements if "Monday" in s.text)
    assert monday.support == 2 and monday.topics == ["a", "b"] and monday.evidence["a"] == ["ma0"]
    again = await distill_consensus(
        sessions=db_sessions, settings=settings, group_id="g", clock=clock
    )
    assert again.version == 2
    stored = await get_consensus("g", sessions=db_sessions)
    assert stored is not None and stored.version == 2 and stored.day == date(2026, 1, 1)
    async with db_sessions() as session:
        assert (
            await session.execute(sa.select(sa.func.count()).select_from(store.group_consensus))
        ).scalar() == 1


async def test_daily_cron_prunes_the_ledger_past_its_retention(
    redis: Redis, db_sessions: Sessions, settings: Settings, arq_pool: object
) -> None:

    from services.memory.jobs import cron_consensus_daily

    clock = FakeClock()
    for i in range(3):
        await push_message(
            redis, topic_id="t1", group_id="g", message=msg(i), settings=settings, clock=clock
        )
    await update(redis, db_sessions, settings, "t1", clock=clock)
    assert len(await folded_ids(db_sessions, "t1")) == 3
    ctx = {
        "settings": settings,
        "db_sessions": db_sessions,
        "redis": arq_pool,
        "memory_clock": clock,
    }
    kept = await cron_consensus_daily(ctx)
    assert kept["pruned"] == 0 and len(await folded_ids(db_sessions, "t1")) == 3
    clock.advance(days=settings.memory_ledger_retention_days + 1)
    pruned = await cron_consensus_daily(ctx)
    assert pruned["pruned"] == 3 and await folded_ids(db_sessions, "t1") == []
    stored = await get_topic_memory("t1", sessions=db_sessions)
    assert stored is not None and stored.message_count == 3  # the memory itself is kept
