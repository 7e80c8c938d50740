"""Build an arq worker settings class from blueprints.

arq reads a settings class's *own* ``__dict__`` (inherited attributes are silently
ignored) and keys functions by name (a second function with the same name silently
replaces the first). `build_worker_settings` therefore writes every attribute onto a fresh
class and refuses duplicate names across blueprints before building anything.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from arq.worker import Function, func

from services.core.arq_cli import prepare_for_arq_cli
from services.core.blueprint import Blueprint, Ctx, DuplicateNameError, Hook
from services.core.instrumentation import instrument
from services.core.logging import quiet_arq_job_lines
from services.core.redis import redis_settings_from
from services.core.resources import core_blueprint
from services.core.serialization import JobDeserializer, job_serializer
from services.core.settings import Settings

logger = logging.getLogger("ai_worker.core")


def check_unique_names(blueprints: Sequence[Blueprint]) -> None:
    """Raise `DuplicateNameError` naming both owners when two blueprints share a name."""
    owners: dict[str, str] = {}
    for blueprint in blueprints:
        for name in blueprint.names():
            if name in owners:
                raise DuplicateNameError(
                    f"job name {name!r} is registered by both blueprint {owners[name]!r} "
                    f"and blueprint {blueprint.name!r}"
                )
            owners[name] = blueprint.name


def arq_functions(blueprints: Sequence[Blueprint]) -> list[Function]:
    """One arq `Function` per name and alias, each instrumented (logs, metrics)."""
    return [
        func(
            instrument(name, job.coroutine),  # type: ignore[arg-type]  # arq: a Protocol
            name=name,
            timeout=job.timeout,
            max_tries=job.max_tries,
            keep_result=job.keep_result,
        )
        for blueprint in blueprints
        for job in blueprint.functions
        for name in job.names
    ]


def chain_startup(blueprints: Sequence[Blueprint], shared: dict[str, Any]) -> Hook:
    """One startup hook running every blueprint's hooks in order on a shared ctx.

    If a hook fails, the shutdown hooks of blueprints already started run (in reverse)
    before the error propagates, so no resource is left open.
    """

    async def on_startup(ctx: Ctx) -> None:
        ctx.update(shared)
        started: list[Blueprint] = []
        try:
            for blueprint in blueprints:
                for hook in blueprint.on_startup:
                    await hook(ctx)
                started.append(blueprint)
        except BaseException:
            await _run_shutdown(reversed(started), ctx)
            raise
        logger.info(
            "worker %s ready on %s",
            ctx.get("worker_id"),
            ctx.get("queue_name"),
            extra={
                "fields": {
                    "blueprints": [b.name for b in blueprints],
                    "queue": ctx.get("queue_name"),
                }
            },
        )
        quiet_arq_job_lines(shared["settings"])

    return on_startup


def chain_shutdown(blueprints: Sequence[Blueprint]) -> Hook:
    """One shutdown hook running every blueprint's hooks in reverse order.

    A failing hook is logged and the rest still run.
    """

    async def on_shutdown(ctx: Ctx) -> None:
        await _run_shutdown(reversed(blueprints), ctx)

    return on_shutdown


async def _run_shutdown(blueprints: Any, ctx: Ctx) -> None:
    for blueprint in blueprints:
        for hook in reversed(blueprint.on_shutdown):
            try:
                await hook(ctx)
            except Exception:
                logger.exception("shutdown hook %s of %s failed", hook.__name__, blueprint.name)


def arq_worker_options(settings: Settings, queue_name: str) -> dict[str, Any]:
    """The arq `Worker` keywords every worker runs with (queue, Redis, limits, serializer).

    The benchmark's bare arq baseline uses the same, so "same settings" stays true.
    """
    return {
        "queue_name": queue_name,
        "redis_settings": redis_settings_from(settings),
        "max_jobs": settings.worker_max_jobs,
        "poll_delay": settings.worker_poll_delay,
        "job_timeout": settings.worker_job_timeout,
        "keep_result": settings.worker_keep_result,
        "max_tries": settings.worker_max_tries,
        "timezone": settings.timezone,
        "job_serializer": job_serializer,
        "job_deserializer": JobDeserializer(accept_pickle=settings.accept_pickle_jobs),
        # The shared arq health key is overwritten by every worker; ours is per process.
        "health_check_interval": 60,
    }


def build_worker_settings(
    class_name: str,
    blueprints: Sequence[Blueprint],
    *,
    settings: Settings,
    queue_name: str,
    kind: str | None = None,
    **overrides: Any,
) -> type:
    """A new arq settings class running `blueprints` (after the core one) on `queue_name`.

    Every attribute lives on the class's own ``__dict__``. `kind` names the worker in
    heartbeats and metrics (default: the blueprint names joined by "+"). `overrides` are
    further arq `Worker` keywords. Raises `DuplicateNameError` when two blueprints share a
    job name.
    """
    composed = [core_blueprint, *blueprints]
    check_unique_names(composed)
    prepare_for_arq_cli(settings)
    options = arq_worker_options(settings, queue_name)
    shared = {
        "settings": settings,
        "worker_kind": kind or "+".join(b.name for b in blueprints),
        "queue_name": queue_name,
        "job_deserializer": options["job_deserializer"],
    }
    attributes: dict[str, Any] = {
        "__doc__": f"arq worker settings for blueprints: {', '.join(b.name for b in composed)}.",
        "__module__": overrides.pop("module", __name__),
        "blueprints": tuple(composed),
        "settings": settings,
        "functions": arq_functions(composed),
        "cron_jobs": [spec.build(settings, instrument) for b in composed for spec in b.cron_jobs],
        "on_startup": chain_startup(composed, shared),
        "on_shutdown": chain_shutdown(composed),
        **options,
    }
    attributes.update(overrides)
    return type(class_name, (), attributes)
