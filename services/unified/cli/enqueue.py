"""`ai-worker enqueue FUNCTION`: put one job on a queue by hand (the old manual test)."""

from __future__ import annotations

from typing import Any

import click
from arq.connections import ArqRedis

from services.unified.cli.common import (
    emit,
    fail,
    load_settings_or_fail,
    parse_value,
    run_with_redis,
)


def known_functions() -> list[str]:
    from services.unified.worker import UnifiedWorkerSettings

    return sorted(f.name for f in vars(UnifiedWorkerSettings)["functions"])


def parse_kwargs(pairs: tuple[str, ...]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.isidentifier():
            fail(f"--kw {pair!r}: expected key=value with a Python identifier as key", code=2)
        kwargs[key] = parse_value(raw)
    return kwargs


@click.command()
@click.argument("function")
@click.option("--arg", "args", multiple=True, help="Positional argument (JSON, or a plain string).")
@click.option(
    "--kw", "kw_pairs", multiple=True, help="Keyword argument key=value (value JSON or string)."
)
@click.option("--queue", default=None, help="Queue (default: QUEUE_NAME, the unified worker's).")
@click.option("--job-id", default=None, help="Job id, to make the job unique.")
@click.option("--defer", type=float, default=None, help="Seconds to wait before the job may start.")
@click.option(
    "--wait", type=float, default=None, help="Wait up to this many seconds for the result."
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def enqueue(
    function: str,
    args: tuple[str, ...],
    kw_pairs: tuple[str, ...],
    queue: str | None,
    job_id: str | None,
    defer: float | None,
    wait: float | None,
    as_json: bool,
) -> None:
    """Enqueue FUNCTION (e.g. task_update_topic_memory --kw topic_id=t1).

    Exit 0 when enqueued (and, with --wait, succeeded); 1 when the job failed, timed out
    or Redis is unreachable; 2 for an unknown function or bad arguments.
    """
    settings = load_settings_or_fail()
    names = known_functions()
    if function not in names:
        fail(f"unknown function {function!r}; known: {', '.join(names)}", code=2)
    positional = [parse_value(a) for a in args]
    kwargs = parse_kwargs(kw_pairs)

    async def body(pool: ArqRedis) -> dict[str, Any]:
        job = await pool.enqueue_job(
            function,
            *positional,
            _queue_name=queue or settings.queue_name,
            _job_id=job_id,
            _defer_by=defer,
            **kwargs,
        )
        if job is None:
            return {"enqueued": False, "job_id": job_id, "reason": "a job with this id exists"}
        outcome: dict[str, Any] = {
            "enqueued": True,
            "job_id": job.job_id,
            "queue": queue or settings.queue_name,
        }
        if wait is not None:
            try:
                outcome["result"] = await job.result(timeout=wait, poll_delay=0.1)
                outcome["success"] = True
            except TimeoutError:
                outcome["success"] = False
                outcome["error"] = f"no result within {wait}s"
            except Exception as error:
                outcome["success"] = False
                outcome["error"] = str(error)
        return outcome

    outcome = run_with_redis(settings, body)
    emit(outcome, as_json, _render)
    if not outcome["enqueued"] or outcome.get("success") is False:
        raise SystemExit(1)


def _render(outcome: dict[str, Any]) -> str:
    if not outcome["enqueued"]:
        return f"not enqueued: {outcome['reason']} ({outcome['job_id']})"
    line = f"enqueued {outcome['job_id']} on {outcome['queue']}"
    if "success" in outcome:
        line += (
            f"\nresult: {outcome['result']}"
            if outcome["success"]
            else f"\nfailed: {outcome['error']}"
        )
    return line
