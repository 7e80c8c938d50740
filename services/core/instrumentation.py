"""Per-job logs, metrics and counters, added around every job function by composition.

For each job it logs a start line and a finish line with stable structured fields
(`job_id`, `function`, `try`, `duration`, `outcome`: success | failed | cancelled),
counts `aiw_jobs_total{function,outcome}` and observes `aiw_job_duration_seconds`, and
keeps this process's totals in `STATS` for the worker heartbeat. arq's own per-job lines
are filtered out (see `services.core.logging`), so each job still costs two log lines.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from dataclasses import dataclass
from typing import Any

from services.core.blueprint import Ctx, JobCoroutine
from services.core.metrics import JOB_DURATION, JOBS

logger = logging.getLogger("ai_worker.jobs")


@dataclass
class JobStats:
    """This process's job totals (read by the heartbeat)."""

    done: int = 0
    failed: int = 0
    cancelled: int = 0
    running: int = 0


STATS = JobStats()


def instrument(name: str, coroutine: JobCoroutine) -> JobCoroutine:
    """Wrap `coroutine` (registered as `name`) with start/finish logs and metrics.

    The wrapper re-raises whatever the job raises: arq's retry and failure handling are
    unchanged.
    """
    counter_ok = JOBS.labels(name, "success")
    counter_failed = JOBS.labels(name, "failed")
    counter_cancelled = JOBS.labels(name, "cancelled")
    duration = JOB_DURATION.labels(name)

    @functools.wraps(coroutine)
    async def run(ctx: Ctx, *args: Any, **kwargs: Any) -> Any:
        fields: dict[str, Any] = {
            "job_id": ctx.get("job_id"),
            "function": name,
            "try": ctx.get("job_try"),
        }
        if logger.isEnabledFor(logging.INFO):
            logger.info("%s started", name, extra={"fields": fields})
        STATS.running += 1
        started = time.perf_counter()
        outcome = "success"
        try:
            return await coroutine(ctx, *args, **kwargs)
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        except BaseException as error:
            outcome = "failed"
            fields["error"] = f"{type(error).__name__}: {error}"
            raise
        finally:
            elapsed = time.perf_counter() - started
            STATS.running -= 1
            duration.observe(elapsed)
            if outcome == "success":
                STATS.done += 1
                counter_ok.inc()
            elif outcome == "failed":
                STATS.failed += 1
                counter_failed.inc()
            else:
                STATS.cancelled += 1
                counter_cancelled.inc()
            fields["duration"] = round(elapsed, 6)
            fields["outcome"] = outcome
            level = logging.INFO if outcome == "success" else logging.WARNING
            if logger.isEnabledFor(level):
                logger.log(level, "%s %s", name, outcome, extra={"fields": fields})

    return run
