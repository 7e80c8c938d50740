"""`ai-worker memory push|show|consensus`: the memory subsystem by hand."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import click
from arq.connections import ArqRedis

from services.memory.api import get_consensus, get_topic_memory, push_message
from services.memory.models import InvalidMessage
from services.unified.cli.common import (
    emit,
    fail,
    load_settings_or_fail,
    run_with_db,
    run_with_redis,
)


@click.group()
def memory() -> None:
    """Push chat messages and read topic memories and group consensus."""


@memory.command()
@click.option("--topic", "topic_id", required=True, help="Topic id.")
@click.option("--group", "group_id", required=True, help="Group id the topic belongs to.")
@click.option(
    "--message", "raw", required=True, help='Message JSON: {"id", "author", "role", "text"}.'
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def push(topic_id: str, group_id: str, raw: str, as_json: bool) -> None:
    """Push one message onto a topic's L2 queue. Exit 2 for a bad message."""
    settings = load_settings_or_fail()
    try:
        message = json.loads(raw)
    except json.JSONDecodeError as error:
        fail(f"--message is not valid JSON: {error.msg} at position {error.pos}", code=2)
    if isinstance(message, dict):
        message.setdefault("timestamp", datetime.now(UTC).isoformat())

    async def body(pool: ArqRedis) -> int:
        return await push_message(
            pool, topic_id=topic_id, group_id=group_id, message=message, settings=settings
        )

    try:
        length = run_with_redis(settings, body)
    except InvalidMessage as error:
        fail(f"invalid message: {error}", code=2)
    emit(
        {"topic_id": topic_id, "queue_length": length},
        as_json,
        lambda d: f"topic {d['topic_id']}: {d['queue_length']} pending",
    )


@memory.command()
@click.argument("topic_id")
@click.option("--json", "as_json", is_flag=True, help="Print the memory as JSON.")
def show(topic_id: str, as_json: bool) -> None:
    """Show a topic's memory. Exit 1 if the topic has no memory yet."""
    settings = load_settings_or_fail()
    stored = run_with_db(settings, lambda sessions: get_topic_memory(topic_id, sessions=sessions))
    if stored is None:
        fail(f"topic {topic_id!r} has no memory yet")
    emit(stored.model_dump(mode="json"), as_json, _render_memory)


@memory.command()
@click.argument("group_id")
@click.option(
    "--day", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Day (default: latest)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the consensus as JSON.")
def consensus(group_id: str, day: datetime | None, as_json: bool) -> None:
    """Show a group's consensus. Exit 1 if there is none for that day."""
    settings = load_settings_or_fail()
    wanted: date | None = day.date() if day else None
    found = run_with_db(
        settings, lambda sessions: get_consensus(group_id, wanted, sessions=sessions)
    )
    if found is None:
        fail(f"group {group_id!r} has no consensus" + (f" for {wanted}" if wanted else ""))
    emit(found.model_dump(mode="json"), as_json, _render_consensus)


def _render_memory(data: dict[str, Any]) -> str:
    memory = data["memory"]
    lines = [
        f"topic {data['topic_id']} (group {data['group_id']}) v{data['version']}: "
        f"{data['message_count']} messages, updated {data['updated_at']}",
        f"summary: {memory.get('summary', '')}",
    ]
    lines += [
        f"  - {p.get('text')} (support {p.get('support')})" for p in memory.get("key_points", [])
    ]
    return "\n".join(lines)


def _render_consensus(data: dict[str, Any]) -> str:
    lines = [
        f"group {data['group_id']} {data['day']} v{data['version']} ({data['topic_count']} topics)"
    ]
    for s in data["statements"]:
        flag = " [disputed]" if s.get("disputed") else ""
        lines.append(f"  - {s.get('text')} (support {s.get('support')}){flag}")
    return "\n".join(lines)
