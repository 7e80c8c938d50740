"""`ai-worker queues ...`: inspect arq queues and drain the legacy ones."""

from __future__ import annotations

import click
from arq.connections import ArqRedis

from services.unified.bridge import DrainResult, drain_queue
from services.unified.cli.common import emit, fail, load_settings_or_fail, run_with_redis


@click.group()
def queues() -> None:
    """Inspect and move arq queues."""


@queues.command()
@click.option("--from", "source", required=True, help="Queue to empty, e.g. arq:memory.")
@click.option("--to", "target", default=None, help="Destination (default: QUEUE_NAME).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def drain(source: str, target: str | None, as_json: bool) -> None:
    """Move every waiting job from a (legacy) queue to the unified queue.

    Jobs already in progress are never moved; deferred jobs keep their time. Exit 0 with
    the number moved; 1 if Redis is unreachable; 2 if --from equals --to.
    """
    settings = load_settings_or_fail()
    destination = target or settings.queue_name
    if source == destination:
        fail(f"--from and --to are the same queue ({source!r})", code=2)

    async def body(pool: ArqRedis) -> DrainResult:
        return await drain_queue(pool, source, destination)

    result = run_with_redis(settings, body)
    emit(
        {
            "from": result.source,
            "to": result.target,
            "moved": result.moved,
            "in_progress": result.in_progress,
        },
        as_json,
        lambda d: (
            f"moved {d['moved']} job(s) from {d['from']} to {d['to']}"
            + (f"; {d['in_progress']} in progress left in place" if d["in_progress"] else "")
        ),
    )
