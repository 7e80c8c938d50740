"""The long_tasks blueprint: the minute poll cron and the runner's lifecycle hooks.

Startup imports the handler modules named by `LONG_TASK_MODULES` and starts a `Runner`
in the worker process (``ctx["long_task_runner"]``); shutdown stops it gracefully (see
`Runner.stop`). The cron's name and schedule are the same in every worker built from this
blueprint (legacy and unified), so arq runs each tick once fleet-wide.
"""

from __future__ import annotations

import logging

from services.core.blueprint import Blueprint, Ctx
from services.core.resources import ctx_sessions, ctx_settings
from services.long_tasks import builtin as _builtin  # noqa: F401 - registers built-in kinds
from services.long_tasks.jobs import POLL_CRON_NAME, RUNNER_KEY, long_tasks_poll
from services.long_tasks.registry import import_handler_modules, registry
from services.long_tasks.runner import Runner, RunnerConfig

logger = logging.getLogger("ai_worker.long_tasks")

blueprint = Blueprint("long_tasks")
blueprint.add_cron(long_tasks_poll, name=POLL_CRON_NAME, schedule={"second": 0}, timeout=60)


@blueprint.startup
async def start_runner(ctx: Ctx) -> None:
    settings = ctx_settings(ctx)
    import_handler_modules(settings.long_task_modules.split(","))
    config = RunnerConfig.from_settings(settings)
    runner = Runner(
        sessions=ctx_sessions(ctx),
        owner=ctx["worker_id"],
        config=config,
        listen_dsn=settings.sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1),
        resources=ctx,
    )
    runner.start()
    ctx[RUNNER_KEY] = runner
    logger.info(
        "long-task runner started",
        extra={
            "fields": {
                "concurrency": config.concurrency,
                "lease_seconds": config.lease_seconds,
                "kinds": registry.kinds(),
            }
        },
    )


@blueprint.shutdown
async def stop_runner(ctx: Ctx) -> None:
    runner: Runner | None = ctx.pop(RUNNER_KEY, None)
    if runner is not None:
        await runner.stop()
        logger.info("long-task runner stopped")
