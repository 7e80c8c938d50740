"""`ai-worker status`: queues, workers and subsystem backlogs at a glance."""

from __future__ import annotations

from typing import Any

import click
from arq.connections import ArqRedis

from services.core.settings import Settings
from services.unified.cli.common import emit, load_settings_or_fail, run_with_redis
from services.unified.cli.inspect import all_queues, queue_summary, workers_summary


async def gather_status(redis: ArqRedis, settings: Settings) -> dict[str, Any]:
    return {
        "queues": [await queue_summary(redis, q) for q in all_queues(settings)],
        "workers": await workers_summary(redis, settings),
    }


def render(status: dict[str, Any]) -> str:
    lines = ["QUEUE                          DEPTH  READY  RUNNING  SCHEDULED"]
    for q in status["queues"]:
        lines.append(
            f"{q['queue']:<30} {q['depth']:>5}  {q['ready']:>5}  {q['in_progress']:>7}  {q['scheduled']:>9}"
        )
    lines.append("")
    lines.append(f"WORKERS ({len(status['workers'])} alive)")
    for w in status["workers"]:
        lines.append(
            f"  {w['id']}  kind={w['kind']} queue={w['queue']} done={w['jobs_done']} "
            f"failed={w['jobs_failed']} running={w['jobs_running']} beat={w['heartbeat_age_seconds']}s ago"
        )
    for title, section in status.items():
        if title in ("queues", "workers"):
            continue
        lines.append("")
        lines.append(title.replace("_", " ").upper())
        for key, value in section.items():
            lines.append(f"  {key}: {value}")
    return "\n".join(lines)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def status(as_json: bool) -> None:
    """Queues (depth, ready, running, scheduled), live workers and subsystem backlogs.

    Exit 0; 1 if Redis is unreachable.
    """
    settings = load_settings_or_fail()

    async def body(pool: ArqRedis) -> dict[str, Any]:
        return await gather_status(pool, settings)

    emit(run_with_redis(settings, body), as_json, render)
