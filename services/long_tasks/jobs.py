"""arq job functions and cron jobs of the long_tasks subsystem.

`long_tasks_poll` is the body of the minute cron `cron:long_tasks_poll`. It is idempotent
(running it twice, or on two workers at once, changes nothing more than running it once):
it reclaims expired leases, refreshes the by-state gauge and wakes every runner.
"""

from __future__ import annotations

import logging
from typing import Any

from services.core.blueprint import Ctx
from services.core.metrics import LONG_TASKS_BY_STATE
from services.core.resources import ctx_sessions
from services.long_tasks import store
from services.long_tasks.execution import log_reclaimed
from services.long_tasks.models import STATES

logger = logging.getLogger("ai_worker.long_tasks")
POLL_CRON_NAME = "cron:long_tasks_poll"
#: Where the blueprint's startup hook keeps this process's `Runner` in the arq ctx.
RUNNER_KEY = "long_task_runner"


async def long_tasks_poll(ctx: Ctx) -> dict[str, Any]:
    """Reclaim expired leases (pending again, or failed when attempts are used up), publish
    task counts by state, and NOTIFY the runners so due tasks are claimed at once."""
    async with ctx_sessions(ctx)() as session, session.begin():
        reclaimed = await store.reclaim_expired(session)
        counts = await store.counts_by_state(session)
        await store.notify(session)
    for row in reclaimed:
        log_reclaimed(row)
    runner = ctx.get(RUNNER_KEY)
    if runner is not None:
        runner.wake()  # also when this process's NOTIFY listener is reconnecting
    for state in STATES:
        LONG_TASKS_BY_STATE.labels(state).set(counts.get(state, 0))
    logger.info(
        "long-task poll: %d expired lease(s) reclaimed, %d pending, %d running",
        len(reclaimed),
        counts.get("pending", 0),
        counts.get("running", 0),
        extra={"fields": {"reclaimed": len(reclaimed), "by_state": counts}},
    )
    return {"reclaimed": len(reclaimed), "by_state": counts}
