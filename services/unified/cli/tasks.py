"""`ai-worker task submit|show|list|cancel`: long tasks by hand."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any, TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.long_tasks import api
from services.long_tasks.models import STATES, Task
from services.long_tasks.registry import import_handler_modules
from services.unified.cli.common import emit, fail, load_settings_or_fail, run_with_db

T = TypeVar("T")


def render_task(data: dict[str, Any]) -> str:
    lines = [
        f"task {data['id']} {data['kind']}: {data['status']} (attempt {data['attempts']}/{data['max_attempts']})"
    ]
    if data.get("progress") is not None:
        lines.append(f"progress: {data['progress']:.0%} {data.get('progress_message') or ''}")
    for key in ("run_at", "schedule", "lease_owner", "lease_expires_at", "last_error", "result"):
        if data.get(key) is not None:
            lines.append(f"{key}: {data[key]}")
    return "\n".join(lines)


@click.group()
def task() -> None:
    """Submit, inspect and cancel long tasks."""


@task.command()
@click.argument("kind")
@click.option("--payload", default="{}", show_default=True, help="JSON object.")
@click.option("--schedule", default=None, help="Cron expression for a recurring task.")
@click.option("--priority", type=int, default=0, show_default=True)
@click.option("--idempotency-key", default=None)
@click.option("--json", "as_json", is_flag=True)
def submit(
    kind: str,
    payload: str,
    schedule: str | None,
    priority: int,
    idempotency_key: str | None,
    as_json: bool,
) -> None:
    """Submit a long task of KIND (e.g. builtin.noop). Exit 2 for bad input.

    Kinds come from the built-ins and the modules in LONG_TASK_MODULES.
    """
    settings = load_settings_or_fail()
    try:
        import_handler_modules(settings.long_task_modules.split(","))
        data = json.loads(payload)
    except ImportError as error:
        fail(str(error), code=2)
    except json.JSONDecodeError as error:
        fail(f"--payload is not valid JSON: {error.msg} at position {error.pos}", code=2)

    async def body(sessions: async_sessionmaker[AsyncSession]) -> Task:
        return await api.submit_task(
            kind,
            data,
            schedule=schedule,
            priority=priority,
            idempotency_key=idempotency_key,
            sessions=sessions,
        )

    try:
        created = run_with_db(settings, body)
    except ValueError as error:
        fail(str(error), code=2)
    emit(
        asdict(created),
        as_json,
        lambda d: f"submitted task {d['id']} ({d['kind']}), run at {d['run_at']}",
    )


@task.command()
@click.argument("task_id", type=int)
@click.option("--json", "as_json", is_flag=True)
def show(task_id: int, as_json: bool) -> None:
    """Show one task. Exit 1 if there is no such task."""
    settings = load_settings_or_fail()
    found = run_with_db(settings, lambda sessions: api.get_task(task_id, sessions=sessions))
    if found is None:
        fail(f"no long task with id {task_id}")
    emit(asdict(found), as_json, render_task)


@task.command(name="list")
@click.option("--status", type=click.Choice(STATES), default=None)
@click.option("--kind", default=None)
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0)
@click.option("--json", "as_json", is_flag=True)
def list_(status: str | None, kind: str | None, limit: int, offset: int, as_json: bool) -> None:
    """List tasks, newest first."""
    settings = load_settings_or_fail()
    found = run_with_db(
        settings,
        lambda sessions: api.list_tasks(
            status=status, kind=kind, limit=limit, offset=offset, sessions=sessions
        ),
    )
    emit(
        [asdict(t) for t in found],
        as_json,
        lambda rows: (
            "\n".join(
                f"{r['id']:>8}  {r['status']:<10} {r['kind']:<24} attempts={r['attempts']}"
                for r in rows
            )
            or "no tasks"
        ),
    )


@task.command()
@click.argument("task_id", type=int)
@click.option("--json", "as_json", is_flag=True)
def cancel(task_id: int, as_json: bool) -> None:
    """Cancel a task (pending: at once; running: its handler is told). Exit 1 if unknown."""
    settings = load_settings_or_fail()
    found = run_with_db(settings, lambda sessions: api.cancel_task(task_id, sessions=sessions))
    if found is None:
        fail(f"no long task with id {task_id}")
    emit(
        asdict(found),
        as_json,
        lambda d: (
            f"task {d['id']}: {d['status']}"
            + (" (cancel requested)" if d["cancel_requested"] and d["status"] == "running" else "")
        ),
    )
