"""Helpers for memory tests: message factories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)


def msg(
    i: int | str, text: str | None = None, author: str = "alice", **extra: Any
) -> dict[str, Any]:
    """A valid message mapping with id ``m<i>``."""
    n = int(i) if isinstance(i, int) else 0
    return {
        "id": f"m{i}",
        "author": author,
        "role": "user",
        "text": text or f"Message number {i} talks about the deployment plan.",
        "timestamp": BASE_TIME + timedelta(seconds=n),
        **extra,
    }
