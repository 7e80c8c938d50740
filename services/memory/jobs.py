"""arq job functions and cron jobs of the memory subsystem.

The bodies are thin: they take their dependencies from the worker ctx (Redis, sessions,
settings, the summarizer and, for tests, a clock under ``memory_clock``) and call the
domain modules. Every one is idempotent.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from services.core.blueprint import Ctx
from services.core.clock import Clock, utc_now
from services.core.metrics import L2_PENDING_TOPICS
from services.core.resources import ctx_sessions, ctx_settings
from services.memory import store
from services.memory.consensus import consensus_day, distill_consensus
from services.memory.queue import backlog
from services.memory.scan import scan
from services.memory.summarizer import Summarizer, build_summarizer
from services.memory.update import update_topic_memory

logger = logging.getLogger("ai_worker.memory")

SUMMARIZER_KEY = "memory_summarizer"
CLOCK_KEY = "memory_clock"


def _clock(ctx: Ctx) -> Clock:
    clock: Clock = ctx.get(CLOCK_KEY, utc_now)
    return clock


def _summarizer(ctx: Ctx) -> Summarizer:
    if SUMMARIZER_KEY not in ctx:
        ctx[SUMMARIZER_KEY] = build_summarizer(ctx_settings(ctx))
    summarizer: Summarizer = ctx[SUMMARIZER_KEY]
    return summarizer


async def task_update_topic_memory(ctx: Ctx, topic_id: str) -> dict[str, Any]:
    """Fold the topic's pending L2 messages into its memory (exactly once; see `update`)."""
    result = await update_topic_memory(
        redis=ctx["redis"],
        sessions=ctx_sessions(ctx),
        settings=ctx_settings(ctx),
        topic_id=topic_id,
        summarizer=_summarizer(ctx),
        clock=_clock(ctx),
    )
    return result.as_dict()


async def task_distill_consensus(
    ctx: Ctx, group_id: str, day: date | str | None = None
) -> dict[str, Any]:
    """Build and store the group's consensus for `day` (replaces that day's, bumps version)."""
    consensus = await distill_consensus(
        sessions=ctx_sessions(ctx),
        settings=ctx_settings(ctx),
        group_id=group_id,
        day=day,
        clock=_clock(ctx),
    )
    return {
        "group_id": consensus.group_id,
        "day": consensus.day.isoformat(),
        "version": consensus.version,
        "statements": len(consensus.statements),
        "agreed": len(consensus.agreed),
    }


async def cron_l2_scan(ctx: Ctx) -> dict[str, int]:
    """Enqueue updates for due topics only (reads the due-index; idempotent)."""
    settings = ctx_settings(ctx)
    result = await scan(ctx["redis"], settings, now=_clock(ctx)())
    pending = await backlog(ctx["redis"], settings)
    L2_PENDING_TOPICS.set(pending)
    logger.info(
        "L2 scan: %d topic(s) due, %d enqueued",
        len(result.due),
        len(result.enqueued),
        extra={
            "fields": {
                "due": len(result.due),
                "enqueued": len(result.enqueued),
                "pending_topics": pending,
            }
        },
    )
    return {"due": len(result.due), "enqueued": len(result.enqueued)}


async def cron_consensus_daily(ctx: Ctx) -> dict[str, int]:
    """Enqueue `task_distill_consensus` once per group whose topics changed since its last one.

    The job id names the group and day, so a second run the same day enqueues nothing.
    """
    settings = ctx_settings(ctx)
    day = consensus_day(settings, _clock(ctx))
    async with ctx_sessions(ctx)() as session, session.begin():
        groups = await store.groups_changed_since_consensus(session)
        cutoff = _clock(ctx)() - timedelta(days=settings.memory_ledger_retention_days)
        pruned = await store.prune_ledger(session, cutoff)
    enqueued = 0
    for group_id in groups:
        job = await ctx["redis"].enqueue_job(
            "task_distill_consensus",
            group_id,
            day.isoformat(),
            _job_id=f"{settings.key_prefix}mem:consensus:{group_id}:{day.isoformat()}",
        )
        enqueued += job is not None
    logger.info(
        "consensus: %d group(s) changed, %d enqueued; %d old ledger row(s) pruned",
        len(groups),
        enqueued,
        pruned,
        extra={
            "fields": {
                "groups": len(groups),
                "enqueued": enqueued,
                "day": day.isoformat(),
                "pruned": pruned,
            }
        },
    )
    return {"groups": len(groups), "enqueued": enqueued, "pruned": pruned}
