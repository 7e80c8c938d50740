"""When a task runs next: its cron schedule's next occurrence, and retry backoff.

Both are pure functions of their inputs (the clock and the random source are passed in),
so tests drive them without sleeping.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter


def check_schedule(schedule: str, timezone: str) -> None:
    """Raise `ValueError` naming the bad cron expression or timezone."""
    if not isinstance(schedule, str) or not croniter.is_valid(schedule):
        raise ValueError(
            f"invalid cron schedule {schedule!r}: expected a cron expression such as '*/5 * * * *'"
        )
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(
            f"unknown schedule timezone {timezone!r}: expected an IANA name such as UTC"
        ) from None


def next_run(schedule: str, timezone: str, after: datetime) -> datetime:
    """The first occurrence of `schedule` in `timezone` strictly after `after` (aware, UTC).

    Evaluated in local time, so '0 3 * * *' in Asia/Shanghai is 03:00 there, across DST
    changes too.
    """
    local = after.astimezone(ZoneInfo(timezone))
    occurrence: datetime = croniter(schedule, local).get_next(datetime)
    return occurrence.astimezone(UTC)


def backoff_delay(
    attempt: int, *, base: float, cap: float, rng: random.Random | None = None
) -> float:
    """Seconds to wait before retrying after failed attempt number `attempt` (1-based).

    Exponential (base * 2**(attempt-1), at most `cap`) with "equal jitter": a uniform draw
    in [delay/2, delay], so retries of many tasks failing together spread out.
    """
    delay = min(cap, base * 2.0 ** max(0, attempt - 1))
    draw = rng.random() if rng is not None else random.random()
    return delay / 2 + delay / 2 * draw
