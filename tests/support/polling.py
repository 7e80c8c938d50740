"""Wait for a condition with a deadline instead of sleeping a guessed time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class ConditionTimeout(AssertionError):
    pass


async def wait_for(
    condition: Callable[[], Awaitable[T]],
    *,
    timeout: float = 20.0,
    interval: float = 0.05,
    message: str = "condition",
) -> T:
    """Poll `condition` until it returns a truthy value; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = await condition()
        if last:
            return last
        await asyncio.sleep(interval)
    raise ConditionTimeout(f"timed out after {timeout}s waiting for {message} (last: {last!r})")


def wait_for_sync(
    condition: Callable[[], T], *, timeout: float = 20.0, interval: float = 0.05, message: str = ""
) -> T:
    """Synchronous `wait_for`."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    raise ConditionTimeout(f"timed out after {timeout}s waiting for {message} (last: {last!r})")
