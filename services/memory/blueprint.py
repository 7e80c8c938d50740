"""The memory blueprint: its job functions, cron jobs and lifecycle hooks.

Cron names and schedules are the same in the legacy memory worker and the unified worker,
so arq's cron job ids dedupe a tick fleet-wide.
"""

from __future__ import annotations

from typing import Any

from services.core.blueprint import Blueprint, Ctx
from services.core.resources import ctx_settings
from services.core.settings import Settings
from services.memory.jobs import (
    SUMMARIZER_KEY,
    cron_consensus_daily,
    cron_l2_scan,
    task_distill_consensus,
    task_update_topic_memory,
)
from services.memory.scripts import ALL_SCRIPTS
from services.memory.summarizer import build_summarizer

blueprint = Blueprint("memory")

# Results are kept as usual: arq would refuse a job id while its result exists, but the scan
# (scan.enqueue_updates) removes a finished update's result before re-using the topic's id.
blueprint.add_function(task_update_topic_memory)
blueprint.add_function(task_distill_consensus)


def scan_schedule(settings: Settings) -> dict[str, Any]:
    """Every `L2_SCAN_INTERVAL_MINUTES`, on minutes divisible by it, at second 0."""
    return {"minute": set(range(0, 60, settings.l2_scan_interval_minutes)), "second": 0}


def consensus_schedule(settings: Settings) -> dict[str, Any]:
    """Daily at `CONSENSUS_HOUR`:00 in `WORKER_TIMEZONE` (the worker's timezone)."""
    return {"hour": settings.consensus_hour, "minute": 0, "second": 0}


blueprint.add_cron(cron_l2_scan, name="cron:l2_scan", schedule=scan_schedule, timeout=60)
blueprint.add_cron(
    cron_consensus_daily, name="cron:consensus_daily", schedule=consensus_schedule, timeout=300
)


@blueprint.startup
async def start_memory(ctx: Ctx) -> None:
    for script in ALL_SCRIPTS:
        await script.load(ctx["redis"])
    ctx[SUMMARIZER_KEY] = build_summarizer(ctx_settings(ctx))


@blueprint.shutdown
async def stop_memory(ctx: Ctx) -> None:
    summarizer = ctx.pop(SUMMARIZER_KEY, None)
    if summarizer is not None:
        await summarizer.aclose()
