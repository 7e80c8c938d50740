"""Blueprints: what a subsystem contributes to a worker, declared as data.

A `Blueprint` holds job functions (each with optional *aliases*: old job names that keep
reaching it after a rename), cron jobs, and startup/shutdown hooks. Blueprints are composed
into an arq settings class by `services.core.composition.build_worker_settings`.

Registration refuses a name the blueprint already has, so a clash is found at import time,
not when a job silently reaches the wrong function.

    memory = Blueprint("memory")

    @memory.job(aliases=("update_topic_memory",))
    async def task_update_topic_memory(ctx: dict, topic_id: str) -> dict: ...
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from arq.cron import CronJob
from arq.cron import cron as arq_cron

from services.core.settings import Settings

Ctx = dict[str, Any]
Hook = Callable[[Ctx], Awaitable[None]]
JobCoroutine = Callable[..., Awaitable[Any]]
F = TypeVar("F", bound=JobCoroutine)
Schedule = dict[str, Any] | Callable[["Settings"], dict[str, Any]]

#: Cron results are kept a day: while a result exists arq refuses to enqueue the same cron
#: job id again, which closes the window where a late worker would run a tick twice.
CRON_KEEP_RESULT_SECONDS = 24 * 3600


class DuplicateNameError(ValueError):
    """Two functions, aliases or cron jobs would be registered under one name."""


@dataclass(frozen=True)
class JobFunction:
    """A job function and the names it answers to."""

    coroutine: JobCoroutine
    name: str
    aliases: tuple[str, ...] = ()
    timeout: float | None = None
    max_tries: int | None = None
    keep_result: float | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


@dataclass(frozen=True)
class CronSpec:
    """A cron job whose schedule may depend on settings (e.g. `L2_SCAN_INTERVAL_MINUTES`)."""

    name: str
    coroutine: JobCoroutine
    schedule: Schedule
    options: dict[str, Any]

    def build(
        self, settings: Settings, wrap: Callable[[str, JobCoroutine], JobCoroutine] | None = None
    ) -> CronJob:
        """The arq `CronJob` for `settings`, its coroutine passed through `wrap` if given."""
        schedule = self.schedule(settings) if callable(self.schedule) else self.schedule
        coroutine = wrap(self.name, self.coroutine) if wrap else self.coroutine
        return arq_cron(
            coroutine,  # type: ignore[arg-type]  # arq types it as a Protocol
            name=self.name,
            **schedule,
            **self.options,
        )


@dataclass
class Blueprint:
    """A named set of job functions, cron jobs and lifecycle hooks."""

    name: str
    functions: list[JobFunction] = field(default_factory=list)
    cron_jobs: list[CronSpec] = field(default_factory=list)
    on_startup: list[Hook] = field(default_factory=list)
    on_shutdown: list[Hook] = field(default_factory=list)

    def names(self) -> list[str]:
        """Every name this blueprint registers: functions, aliases and cron jobs."""
        return [n for f in self.functions for n in f.names] + [c.name for c in self.cron_jobs]

    def _claim(self, new_names: Sequence[str]) -> None:
        taken = set(self.names())
        seen: set[str] = set()
        for name in new_names:
            if name in taken or name in seen:
                raise DuplicateNameError(f"blueprint {self.name!r} already registers {name!r}")
            seen.add(name)

    def add_function(
        self,
        coroutine: JobCoroutine,
        *,
        name: str | None = None,
        aliases: Sequence[str] = (),
        timeout: float | None = None,
        max_tries: int | None = None,
        keep_result: float | None = None,
    ) -> JobFunction:
        """Register `coroutine` as a job; raises `DuplicateNameError` on a name clash."""
        if not inspect.iscoroutinefunction(coroutine):
            raise TypeError(f"{coroutine!r} is not an async function")
        job = JobFunction(
            coroutine=coroutine,
            name=name or coroutine.__name__,
            aliases=tuple(aliases),
            timeout=timeout,
            max_tries=max_tries,
            keep_result=keep_result,
        )
        self._claim(job.names)
        self.functions.append(job)
        return job

    def job(
        self,
        name: str | None = None,
        *,
        aliases: Sequence[str] = (),
        timeout: float | None = None,
        max_tries: int | None = None,
        keep_result: float | None = None,
    ) -> Callable[[F], F]:
        """Decorator form of `add_function`; returns the function unchanged."""

        def register(coroutine: F) -> F:
            self.add_function(
                coroutine,
                name=name,
                aliases=aliases,
                timeout=timeout,
                max_tries=max_tries,
                keep_result=keep_result,
            )
            return coroutine

        return register

    def add_cron(
        self, coroutine: JobCoroutine, *, name: str, schedule: Schedule, **options: Any
    ) -> CronSpec:
        """Register a cron job; `schedule` is arq `cron` keywords or a function of settings.

        Options are arq `cron` keywords (timeout, ...). Defaults differ from arq's on purpose:
        results are kept for a day (see `CRON_KEEP_RESULT_SECONDS`) and a tick is tried once.
        """
        if not name.startswith("cron:"):
            raise ValueError(f"cron job name {name!r} must start with 'cron:'")
        if not inspect.iscoroutinefunction(coroutine):
            raise TypeError(f"{coroutine!r} is not an async function")
        self._claim([name])
        options.setdefault("keep_result", CRON_KEEP_RESULT_SECONDS)
        options.setdefault("max_tries", 1)
        spec = CronSpec(name=name, coroutine=coroutine, schedule=schedule, options=options)
        self.cron_jobs.append(spec)
        return spec

    def startup(self, hook: Hook) -> Hook:
        """Decorator: run `hook(ctx)` when a worker with this blueprint starts."""
        self.on_startup.append(hook)
        return hook

    def shutdown(self, hook: Hook) -> Hook:
        """Decorator: run `hook(ctx)` when the worker stops (reverse order of startup)."""
        self.on_shutdown.append(hook)
        return hook
