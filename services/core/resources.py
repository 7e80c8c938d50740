"""Shared worker resources: one settings object, one DB engine, one Redis pool per process.

`core_blueprint` is composed first into every worker settings class, so every other
blueprint's startup hook finds these in ``ctx``:

- ``ctx["settings"]``: `Settings`
- ``ctx["redis"]``: arq's `ArqRedis` pool (created by arq itself)
- ``ctx["db_engine"]`` / ``ctx["db_sessions"]``: the async engine and session factory
- ``ctx["worker_id"]``: unique id of this worker process (host:pid:random)
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.core.blueprint import Blueprint, Ctx
from services.core.db import create_engine, create_session_factory
from services.core.heartbeat import Heartbeat
from services.core.instrumentation import STATS
from services.core.logging import configure_logging
from services.core.metrics import start_metrics_server
from services.core.serialization import JobDeserializer
from services.core.settings import Settings

logger = logging.getLogger("ai_worker.core")

core_blueprint = Blueprint("core")


def new_worker_id() -> str:
    """host:pid:random, unique per worker process start."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def ctx_settings(ctx: Ctx) -> Settings:
    settings: Settings = ctx["settings"]
    return settings


def ctx_sessions(ctx: Ctx) -> async_sessionmaker[AsyncSession]:
    sessions: async_sessionmaker[AsyncSession] = ctx["db_sessions"]
    return sessions


@core_blueprint.startup
async def open_resources(ctx: Ctx) -> None:
    settings = ctx_settings(ctx)
    configure_logging(settings)
    ctx.setdefault("worker_id", new_worker_id())
    engine = create_engine(settings)
    ctx["db_engine"] = engine
    ctx["db_sessions"] = create_session_factory(engine)
    logger.info("worker %s starting", ctx["worker_id"])
    _start_metrics_once(settings.metrics_port)
    deserializer: JobDeserializer | None = ctx.get("job_deserializer")
    heartbeat = Heartbeat(
        ctx["redis"],
        prefix=settings.key_prefix,
        worker_id=ctx["worker_id"],
        kind=ctx.get("worker_kind", "worker"),
        queue=ctx.get("queue_name", settings.queue_name),
        interval=settings.heartbeat_seconds,
        extra=(lambda: _pickle_counts(deserializer)) if deserializer else None,
    )
    await heartbeat.start()
    ctx["heartbeat"] = heartbeat


def _pickle_counts(deserializer: JobDeserializer) -> dict[str, int]:
    return {
        "pickled_accepted": deserializer.pickled_accepted,
        "pickled_refused": deserializer.pickled_refused,
    }


_metrics_started: set[int] = set()


def _start_metrics_once(port: int) -> None:
    # A process serves one endpoint even if several workers start in it (tests, burst runs).
    if port and port not in _metrics_started and start_metrics_server(port):
        _metrics_started.add(port)


@core_blueprint.shutdown
async def close_resources(ctx: Ctx) -> None:
    heartbeat: Heartbeat | None = ctx.pop("heartbeat", None)
    if heartbeat is not None:
        await heartbeat.stop()
    engine: AsyncEngine | None = ctx.pop("db_engine", None)
    if engine is not None:
        await engine.dispose()
    logger.info(
        "worker %s stopped: %d job(s) done, %d failed, %d cancelled",
        ctx.get("worker_id"),
        STATS.done,
        STATS.failed,
        STATS.cancelled,
        extra={"fields": {"jobs_done": STATS.done, "jobs_failed": STATS.failed}},
    )


@core_blueprint.job(name="ping")
async def ping(ctx: Ctx, payload: object = None, delay: float = 0) -> object:
    """Answer `payload` (or "pong") after `delay` seconds: for smoke tests and benchmarks."""
    if delay:
        await asyncio.sleep(float(delay))
    return "pong" if payload is None else payload
