"""The producer API: validation at submit, idempotency, listing, cancelling pending tasks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.long_tasks.api import cancel_task, get_task, list_tasks, submit_task
from services.long_tasks.builtin import NOOP, SLEEP

Sessions = async_sessionmaker[AsyncSession]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "no.such.kind", "payload": {}}, "unknown long-task kind 'no.such.kind'"),
        ({"kind": NOOP, "payload": [1, 2]}, "payload .* must be a JSON object .*got list"),
        ({"kind": NOOP, "payload": "text"}, "must be a JSON object .*got str"),
        ({"kind": NOOP, "payload": {"x": object()}}, "not JSON-serializable"),
        ({"kind": NOOP, "payload": {}, "schedule": "every minute"}, "invalid cron schedule"),
        ({"kind": NOOP, "payload": {}, "schedule": "61 * * * *"}, "invalid cron schedule"),
        (
            {"kind": NOOP, "payload": {}, "schedule": "* * * * *", "timezone": "Mars/Base"},
            "unknown schedule timezone 'Mars/Base'",
        ),
        ({"kind": NOOP, "payload": {}, "priority": -1}, "priority must be a non-negative"),
        ({"kind": NOOP, "payload": {}, "max_attempts": 0}, "max_attempts must be a positive"),
        ({"kind": NOOP, "payload": {}, "run_at": datetime(2030, 1, 1)}, "timezone-aware"),
        ({"kind": NOOP, "payload": {}, "idempotency_key": ""}, "idempotency_key"),
    ],
)
async def test_bad_input_is_a_clear_value_error(
    db_sessions: Sessions, kwargs: dict[str, object], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        await submit_task(sessions=db_sessions, **kwargs)  # type: ignore[arg-type]
    assert await list_tasks(sessions=db_sessions) == []


async def test_submit_defaults_and_get(db_sessions: Sessions) -> None:
    task = await submit_task(SLEEP, {"seconds": 0}, priority=3, sessions=db_sessions)
    assert (task.status, task.priority, task.attempts, task.max_attempts) == ("pending", 3, 0, 3)
    fetched = await get_task(task.id, sessions=db_sessions)
    assert fetched is not None and fetched.payload == {"seconds": 0}
    assert await get_task(10**12, sessions=db_sessions) is None


async def test_idempotency_key_returns_the_existing_task(db_sessions: Sessions) -> None:
    first = await submit_task(NOOP, {"n": 1}, idempotency_key="report-7", sessions=db_sessions)
    second = await submit_task(NOOP, {"n": 2}, idempotency_key="report-7", sessions=db_sessions)
    assert second.id == first.id and second.payload == {"n": 1}
    other = await submit_task(NOOP, {"n": 3}, idempotency_key="report-8", sessions=db_sessions)
    assert other.id != first.id
    assert len(await list_tasks(sessions=db_sessions)) == 2


async def test_submit_inside_callers_transaction_rolls_back_with_it(db_sessions: Sessions) -> None:
    async with db_sessions() as session:
        async with session.begin():
            kept = await submit_task(NOOP, {}, session=session)
        transaction = await session.begin()
        dropped = await submit_task(NOOP, {}, session=session)
        await transaction.rollback()
    assert await get_task(kept.id, sessions=db_sessions) is not None
    assert await get_task(dropped.id, sessions=db_sessions) is None


async def test_list_filters_and_pages(db_sessions: Sessions) -> None:
    ids = [(await submit_task(NOOP, {"i": i}, sessions=db_sessions)).id for i in range(5)]
    await submit_task(SLEEP, {}, sessions=db_sessions)
    await cancel_task(ids[0], sessions=db_sessions)
    noop_pending = await list_tasks(status="pending", kind=NOOP, sessions=db_sessions)
    assert [t.id for t in noop_pending] == ids[:0:-1]
    page = await list_tasks(kind=NOOP, limit=2, offset=1, sessions=db_sessions)
    assert [t.id for t in page] == [ids[3], ids[2]]
    with pytest.raises(ValueError, match="unknown status 'done'"):
        await list_tasks(status="done", sessions=db_sessions)


async def test_cancel_pending_is_immediate_and_idempotent(db_sessions: Sessions) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    task = await submit_task(NOOP, {}, run_at=later, sessions=db_sessions)
    cancelled = await cancel_task(task.id, sessions=db_sessions)
    assert cancelled is not None and cancelled.status == "cancelled"
    assert cancelled.finished_at is not None
    again = await cancel_task(task.id, sessions=db_sessions)
    assert again is not None and again.status == "cancelled"
    assert await cancel_task(10**12, sessions=db_sessions) is None


async def test_recurring_submit_defaults_to_next_occurrence(db_sessions: Sessions) -> None:
    task = await submit_task(
        NOOP, {}, schedule="0 3 * * *", timezone="Asia/Shanghai", sessions=db_sessions
    )
    local = task.run_at.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai"))
    assert (local.hour, local.minute) == (3, 0)
    assert task.run_at > datetime.now(UTC)
    assert task.schedule_timezone == "Asia/Shanghai"
