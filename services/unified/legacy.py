"""Legacy worker settings for the transition: each subsystem alone, plus forwarders.

During a migration a job can reach a legacy worker that does not have its function (an
old producer enqueued a memory job on ``arq:long_tasks``, say). Rather than fail it, the
legacy worker *forwards* it: it re-enqueues the same call on the owning subsystem's
legacy queue, where that subsystem's legacy worker or the unified worker's bridge picks it
up. The old import paths `app.long_tasks.worker` and `app.memory.worker` run these.
"""

from __future__ import annotations

import logging
from typing import Any

from services.core.blueprint import Blueprint, Ctx, JobCoroutine
from services.core.composition import build_worker_settings
from services.core.settings import Settings, load_settings_or_exit
from services.long_tasks.blueprint import blueprint as long_tasks_blueprint
from services.memory.blueprint import blueprint as memory_blueprint

logger = logging.getLogger("ai_worker.transition")


def forwarder(name: str, queue: str) -> JobCoroutine:
    """A job that re-enqueues `name(*args, **kwargs)` on `queue` and returns where it went."""

    async def forward(ctx: Ctx, *args: Any, **kwargs: Any) -> dict[str, Any]:
        job = await ctx["redis"].enqueue_job(name, *args, _queue_name=queue, **kwargs)
        job_id = job.job_id if job is not None else None
        logger.info(
            "forwarded %s to %s",
            name,
            queue,
            extra={"fields": {"function": name, "to": queue, "new_job_id": job_id}},
        )
        return {"forwarded_to": queue, "job_id": job_id}

    forward.__name__ = f"forward_{name}"
    return forward


def forwarding_blueprint(owner: Blueprint, queue: str) -> Blueprint:
    """Forwarders for every job name (and alias) of `owner`; its cron jobs are not included."""
    blueprint = Blueprint(f"forward_to_{owner.name}")
    for job in owner.functions:
        for name in job.names:
            blueprint.add_function(forwarder(name, queue), name=name)
    return blueprint


def legacy_worker_settings(subsystem: str, settings: Settings) -> type:
    """The legacy settings class of `subsystem` ("long_tasks" or "memory") with forwarders."""
    queues = {"long_tasks": settings.long_tasks_queue_name, "memory": settings.memory_queue_name}
    blueprints = {"long_tasks": long_tasks_blueprint, "memory": memory_blueprint}
    (other,) = set(blueprints) - {subsystem}
    return build_worker_settings(
        "WorkerSettings",
        [blueprints[subsystem], forwarding_blueprint(blueprints[other], queues[other])],
        settings=settings,
        queue_name=queues[subsystem],
        kind=subsystem,
        module=__name__,
    )


settings = load_settings_or_exit()
LongTasksWorkerSettings = legacy_worker_settings("long_tasks", settings)
MemoryWorkerSettings = legacy_worker_settings("memory", settings)
