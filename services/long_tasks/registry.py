"""Handlers by kind: the `@long_task` decorator and the registry the runner looks them up in.

    @long_task("report.build", max_attempts=5, timeout=3600)
    async def build_report(ctx: TaskContext, payload: dict) -> dict:
        state = ctx.checkpoint or {"page": 0}
        ...
        return {"pages": state["page"]}

Registering a kind twice raises `ValueError` (one kind, one handler), so two modules can
never silently fight over a kind. A producer must import the module that registers a kind
before `submit_task` accepts it; a worker imports the modules named by `LONG_TASK_MODULES`.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from services.long_tasks.context import TaskContext

Handler = Callable[["TaskContext", dict[str, Any]], Awaitable[Any]]
H = TypeVar("H", bound=Handler)

DEFAULT_MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class TaskKind:
    """A registered handler and its execution limits."""

    kind: str
    handler: Handler
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    timeout: float | None = None


class Registry:
    """Kinds to handlers. Registration is checked; lookups are plain dict reads."""

    def __init__(self) -> None:
        self._kinds: dict[str, TaskKind] = {}

    def register(
        self,
        kind: str,
        handler: Handler,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        timeout: float | None = None,
    ) -> TaskKind:
        """Register `handler` for `kind`; raises `ValueError` on a taken kind or a bad limit."""
        if not kind or not isinstance(kind, str):
            raise ValueError(f"long-task kind must be a non-empty string, got {kind!r}")
        if not inspect.iscoroutinefunction(handler):
            raise TypeError(f"long-task handler for {kind!r} must be an async function")
        if max_attempts < 1:
            raise ValueError(f"max_attempts of {kind!r} must be at least 1, got {max_attempts}")
        if timeout is not None and timeout <= 0:
            raise ValueError(f"timeout of {kind!r} must be positive, got {timeout}")
        existing = self._kinds.get(kind)
        if existing is not None and existing.handler is not handler:
            raise ValueError(f"long-task kind {kind!r} is already registered")
        spec = TaskKind(kind, handler, max_attempts, timeout)
        self._kinds[kind] = spec
        return spec

    def get(self, kind: str) -> TaskKind | None:
        return self._kinds.get(kind)

    def require(self, kind: str) -> TaskKind:
        """The spec of `kind`; raises `ValueError` naming it when unknown."""
        spec = self._kinds.get(kind)
        if spec is None:
            known = ", ".join(sorted(self._kinds)) or "none"
            raise ValueError(f"unknown long-task kind {kind!r} (registered kinds: {known})")
        return spec

    def kinds(self) -> list[str]:
        return sorted(self._kinds)


#: The process-wide registry `@long_task` writes to.
registry = Registry()


def long_task(
    kind: str, *, max_attempts: int = DEFAULT_MAX_ATTEMPTS, timeout: float | None = None
) -> Callable[[H], H]:
    """Decorator: register an `async def handler(ctx, payload) -> dict` for `kind`.

    `max_attempts` counts runs that started (a crash counts, a SIGTERM release does not);
    `timeout` (seconds) bounds one attempt: past it the handler is cancelled and the attempt
    fails. Returns the function unchanged.
    """

    def register(handler: H) -> H:
        registry.register(kind, handler, max_attempts=max_attempts, timeout=timeout)
        return handler

    return register


def import_handler_modules(modules: Iterable[str]) -> list[str]:
    """Import each module path (e.g. from `LONG_TASK_MODULES`) so its handlers register.

    Raises `ImportError` naming the module that failed.
    """
    imported = []
    for name in (m.strip() for m in modules):
        if not name:
            continue
        try:
            importlib.import_module(name)
        except ImportError as error:
            raise ImportError(f"LONG_TASK_MODULES: cannot import {name!r}: {error}") from error
        imported.append(name)
    return imported
