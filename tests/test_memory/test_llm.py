"""The llm summarizer against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.metrics import SUMMARIZER_FALLBACKS
from services.core.settings import Settings
from services.memory.api import get_topic_memory, push_message
from services.memory.llm import LLMSummarizer
from services.memory.update import update_topic_memory
from tests.test_memory.conftest import msg
from tests.test_memory.llm_server import FakeLLM, fake_llm

API_KEY = "sk-test-secret-123"


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    with fake_llm() as server:
        yield server


def fallbacks(reason: str) -> float:
    return SUMMARIZER_FALLBACKS.labels(reason=reason)._value.get()


async def run_update(
    redis: Redis, sessions: async_sessionmaker[AsyncSession], settings: Settings, llm: FakeLLM
) -> LLMSummarizer:
    settings = settings.model_copy(
        update={
            "llm_base_url": llm.base_url,
            "llm_api_key": __import__("pydantic").SecretStr(API_KEY),
            "llm_timeout_seconds": 0.5,
            "llm_max_retries": 2,
        }
    )
    for i in range(3):
        await push_message(redis, topic_id="t1", group_id="g", message=msg(i), settings=settings)
    summarizer = LLMSummarizer(settings, backoff_base=0.01)
    try:
        result = await update_topic_memory(
            redis=redis, sessions=sessions, settings=settings, topic_id="t1", summarizer=summarizer
        )
    finally:
        await summarizer.aclose()
    assert result.status == "updated" and result.folded == 3 and result.remaining == 0
    return summarizer


async def test_good_answer_becomes_the_memory(
    redis: Redis, db_sessions: async_sessionmaker[AsyncSession], settings: Settings, llm: FakeLLM
) -> None:
    await run_update(redis, db_sessions, settings, llm)
    stored = await get_topic_memory("t1", sessions=db_sessions)
    assert stored is not None and stored.message_count == 3
    assert stored.memory.summary == "The team agreed to release on Monday."
    assert stored.memory.key_points[0].evidence == ["m0", "m1"]
    assert stored.memory.summarizer == "llm"
    request = llm.requests[0]
    assert request["_path"] == "/v1/chat/completions" and request["_auth"] == f"Bearer {API_KEY}"
    assert "m2" in request["messages"][1]["content"]


@pytest.mark.parametrize(
    ("script", "reason", "requests"),
    [(["invalid"], "invalid_output", 3), (["500"], "http_5xx", 3), (["hang"], "timeout", 3)],
)
async def test_failures_fall_back_to_extractive_without_losing_messages(
    redis: Redis,
    db_sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    llm: FakeLLM,
    caplog: pytest.LogCaptureFixture,
    script: list[str],
    reason: str,
    requests: int,
) -> None:
    llm.script = script
    before = fallbacks(reason)
    with caplog.at_level(logging.INFO):
        await run_update(redis, db_sessions, settings, llm)
    assert len(llm.requests) == requests
    assert fallbacks(reason) - before == 1
    stored = await get_topic_memory("t1", sessions=db_sessions)
    assert (
        stored is not None
        and stored.message_count == 3
        and stored.memory.summarizer == "extractive"
    )
    assert stored.memory.key_points
    assert any("falling back to extractive" in r.getMessage() for r in caplog.records)
    assert API_KEY not in caplog.text


async def test_429_honours_retry_after_then_succeeds(
    redis: Redis, db_sessions: async_sessionmaker[AsyncSession], settings: Settings, llm: FakeLLM
) -> None:
    llm.script = ["429", "ok"]
    started = time.monotonic()
    await run_update(redis, db_sessions, settings, llm)
    assert time.monotonic() - started >= 1.0  # Retry-After: 1, not the 0.01 s backoff
    assert len(llm.requests) == 2
    stored = await get_topic_memory("t1", sessions=db_sessions)
    assert stored is not None and stored.memory.summarizer == "llm"


def test_api_key_is_not_in_settings_repr(settings: Settings) -> None:
    import pydantic

    secret = settings.model_copy(update={"llm_api_key": pydantic.SecretStr(API_KEY)})
    assert API_KEY not in repr(secret)
