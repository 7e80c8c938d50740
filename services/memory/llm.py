"""The `llm` summarizer: an OpenAI-compatible chat-completions API through httpx.

``POST {LLM_BASE_URL}/chat/completions`` asking for a JSON object, validated with pydantic.
Each request has a timeout (`LLM_TIMEOUT_SECONDS`); timeouts, connection errors, 429, 5xx
and invalid output are retried up to `LLM_MAX_RETRIES` times with exponential backoff, a
429's or 503's ``Retry-After`` taking precedence. After that it falls back to the
extractive summarizer with a warning and ``aiw_summarizer_fallbacks_total{reason}``: a
batch is never lost because the API failed. `LLM_API_KEY` is sent as a bearer token and
never logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from pydantic import ValidationError

from services.core.clock import utc_now
from services.core.metrics import SUMMARIZER_FALLBACKS
from services.core.settings import Settings
from services.memory.models import Message
from services.memory.summarizer import ExtractiveSummarizer
from services.memory.topic_memory import Digest

logger = logging.getLogger("ai_worker.memory.llm")

#: Backoff before retry n (0-based) is min(BACKOFF_CAP, backoff_base * 2**n) seconds.
BACKOFF_CAP_SECONDS = 8.0
#: A Retry-After longer than this is not honoured: we fall back instead of stalling a job.
RETRY_AFTER_CAP_SECONDS = 30.0

SYSTEM_PROMPT = (
    "You maintain the long-term memory of one chat topic. Given the previous summary and new "
    "messages, reply with a JSON object only: "
    '{"summary": string, "key_points": [{"text": string, "evidence": [message ids]}]}. '
    "Keep the summary under 600 characters and at most 5 key points; write in the language "
    "of the messages; evidence lists ids of the messages that support each point."
)


class LLMError(Exception):
    """One failed attempt; `reason` is a low-cardinality metric label."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date); None if absent/bad."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - utc_now()).total_seconds())
    except (TypeError, ValueError):
        return None


class LLMSummarizer:
    """Summarizes with a chat-completions API; falls back to extractive on failure."""

    name = "llm"

    def __init__(
        self,
        settings: Settings,
        *,
        client: httpx.AsyncClient | None = None,
        backoff_base: float = 0.5,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.url = settings.llm_base_url.rstrip("/") + "/chat/completions"
        self.client = client or httpx.AsyncClient(timeout=settings.llm_timeout_seconds)
        self.backoff_base = backoff_base
        self.sleep = sleep
        self.fallback = ExtractiveSummarizer()

    async def summarize(self, previous_summary: str, messages: Sequence[Message]) -> Digest:
        """A digest from the API, or from the extractive backend after the retries fail."""
        try:
            return await self._with_retries(previous_summary, messages)
        except LLMError as error:
            SUMMARIZER_FALLBACKS.labels(reason=error.reason).inc()
            logger.warning(
                "LLM summarizer failed (%s); falling back to extractive",
                error.reason,
                extra={"fields": {"reason": error.reason, "messages": len(messages)}},
            )
            return self.fallback.digest(previous_summary, messages)

    async def _with_retries(self, previous_summary: str, messages: Sequence[Message]) -> Digest:
        attempts = self.settings.llm_max_retries + 1
        for attempt in range(attempts):
            try:
                return await self._ask(previous_summary, messages)
            except LLMError as error:
                if attempt + 1 >= attempts or error.reason == "http_4xx":
                    raise
                delay = min(BACKOFF_CAP_SECONDS, self.backoff_base * 2**attempt)
                if error.retry_after is not None:
                    if error.retry_after > RETRY_AFTER_CAP_SECONDS:
                        raise
                    delay = error.retry_after
                logger.info(
                    "LLM attempt %d failed (%s); retrying in %.2fs",
                    attempt + 1,
                    error.reason,
                    delay,
                    extra={"fields": {"reason": error.reason}},
                )
                await self.sleep(delay)
        raise AssertionError("unreachable")

    def _request(self, previous_summary: str, messages: Sequence[Message]) -> dict[str, Any]:
        lines = [
            json.dumps(
                {"id": m.id, "author": m.author, "role": m.role, "text": m.text}, ensure_ascii=False
            )
            for m in messages
        ]
        user = f"Previous summary:\n{previous_summary or '(none)'}\n\nNew messages:\n" + "\n".join(
            lines
        )
        return {
            "model": self.settings.llm_model,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": user},
            ],
            "response_format": {"type": "json_object"},
            "temperature": 0,
        }

    async def _ask(self, previous_summary: str, messages: Sequence[Message]) -> Digest:
        headers = {}
        if self.settings.llm_api_key is not None:
            headers["Authorization"] = f"Bearer {self.settings.llm_api_key.get_secret_value()}"
        try:
            response = await self.client.post(
                self.url,
                json=self._request(previous_summary, messages),
                headers=headers,
                timeout=self.settings.llm_timeout_seconds,
            )
        except httpx.TimeoutException:
            raise LLMError("timeout") from None
        except httpx.HTTPError:
            raise LLMError("connection") from None
        if response.status_code == 429 or response.status_code >= 500:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            reason = "http_429" if response.status_code == 429 else "http_5xx"
            raise LLMError(reason, retry_after)
        if response.status_code >= 400:
            raise LLMError("http_4xx")
        try:
            content = response.json()["choices"][0]["message"]["content"]
            digest = Digest.model_validate(json.loads(content))
        except (ValueError, KeyError, IndexError, TypeError, ValidationError):
            raise LLMError("invalid_output") from None
        return digest.model_copy(update={"source": self.name})

    async def aclose(self) -> None:
        await self.client.aclose()
