"""Cron occurrences in a timezone, and backoff with seedable jitter."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from services.long_tasks.timing import backoff_delay, check_schedule, next_run


def test_next_run_in_timezone() -> None:
    after = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # 20:00 in Shanghai
    assert next_run("0 3 * * *", "Asia/Shanghai", after) == datetime(2026, 6, 1, 19, 0, tzinfo=UTC)
    assert next_run("*/15 * * * *", "UTC", after) == datetime(2026, 6, 1, 12, 15, tzinfo=UTC)


def test_next_run_across_dst() -> None:
    # 2026-03-08: New York moves from UTC-5 to UTC-4; 09:00 local stays 09:00 local.
    before = next_run("0 9 * * *", "America/New_York", datetime(2026, 3, 7, 0, 0, tzinfo=UTC))
    after = next_run("0 9 * * *", "America/New_York", datetime(2026, 3, 9, 0, 0, tzinfo=UTC))
    assert (before.hour, after.hour) == (14, 13)


def test_check_schedule() -> None:
    check_schedule("*/5 * * * *", "UTC")
    with pytest.raises(ValueError, match="invalid cron schedule 'nope'"):
        check_schedule("nope", "UTC")


def test_backoff_grows_exponentially_with_bounded_jitter() -> None:
    rng = random.Random(1)
    for attempt in range(1, 8):
        full = min(60.0, 2.0 * 2 ** (attempt - 1))
        delay = backoff_delay(attempt, base=2.0, cap=60.0, rng=rng)
        assert full / 2 <= delay <= full
    again = [backoff_delay(3, base=2.0, cap=60.0, rng=random.Random(5)) for _ in range(2)]
    assert again[0] == again[1]  # seedable
