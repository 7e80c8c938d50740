"""`ai-worker status`: queues, workers and subsystem backlogs at a glance."""

from __future__ import annotations

from typing import Any

import click
from arq.connections import ArqRedis
from sqlalchemy.exc import SQLAlchemyError

from services.core.db import create_engine, create_session_factory
from services.core.heartbeat import fleet_totals
from services.core.settings import Settings
from services.long_tasks.status import long_task_status
from services.memory.status import memory_status
from services.unified.cli.common import emit, load_settings_or_fail, run_with_redis
from services.unified.cli.inspect import all_queues, queue_summary, workers_summary


async def gather_status(redis: ArqRedis, settings: Settings) -> dict[str, Any]:
    status: dict[str, Any] = {
        "queues": [await queue_summary(redis, q) for q in all_queues(settings)],
        "workers": await workers_summary(redis, settings),
        "fleet_totals": await fleet_totals(redis, settings.key_prefix),
    }
    engine = create_engine(settings)
    try:
        async with create_session_factory(engine)() as session:
            status["long_tasks"] = await long_task_status(session)
            status["memory"] = await memory_status(redis, session, settings)
    except (OSError, SQLAlchemyError) as error:
        status["database_error"] = f"PostgreSQL unreachable ({type(error).__name__})"
    finally:
        await engine.dispose()
    return status


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
    totals = status["fleet_totals"]
    lines.append(
        f"  pickled jobs (all time): accepted={totals['pickled_accepted']} "
        f"refused={totals['pickled_refused']}"
    )
    if "long_tasks" in status:
        tasks = status["long_tasks"]
        states = " ".join(f"{k}={v}" for k, v in tasks["by_state"].items())
        lines += ["", f"LONG TASKS  {states}"]
        if tasks["oldest_due_pending"]:
            oldest = tasks["oldest_due_pending"]
            lines.append(
                f"  oldest due pending: task {oldest['id']} ({oldest['kind']}) due {oldest['run_at']}"
            )
        for lease in tasks["expired_leases"]:
            lines.append(
                f"  EXPIRED LEASE: task {lease['id']} ({lease['kind']}) owner {lease['lease_owner']} "
                f"expired {lease['lease_expires_at']}"
            )
    if "memory" in status:
        memory = status["memory"]
        lines += [
            "",
            f"L2 BACKLOG  topics pending={memory['topics_pending']} due now={memory['topics_due']} "
            f"dropped messages={memory['dropped_messages']}",
        ]
        for c in memory["last_consensus"]:
            lines.append(
                f"  consensus {c['group_id']}: {c['day']} v{c['version']} "
                f"({c['statements']} statements, at {c['updated_at']})"
            )
    if "database_error" in status:
        lines += ["", f"DATABASE  {status['database_error']}"]
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
