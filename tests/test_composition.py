"""Building arq settings classes from blueprints."""

from __future__ import annotations

from typing import Any

import pytest
from arq.worker import get_kwargs

from services.core.blueprint import Blueprint, Ctx, DuplicateNameError
from services.core.composition import build_worker_settings
from services.core.settings import Settings


async def job_a(ctx: Ctx) -> str:
    return "a"


async def job_b(ctx: Ctx) -> str:
    return "b"


def make(name: str, *jobs: Any, aliases: tuple[str, ...] = ()) -> Blueprint:
    blueprint = Blueprint(name)
    for job in jobs:
        blueprint.add_function(job, aliases=aliases)
    return blueprint


def test_duplicate_function_across_blueprints_refused(settings: Settings) -> None:
    with pytest.raises(DuplicateNameError, match=r"'job_a'.*'one'.*'two'"):
        build_worker_settings(
            "S", [make("one", job_a), make("two", job_a)], settings=settings, queue_name="q"
        )


def test_alias_clashing_with_function_refused(settings: Settings) -> None:
    with pytest.raises(DuplicateNameError, match="job_b"):
        build_worker_settings(
            "S",
            [make("one", job_a, aliases=("job_b",)), make("two", job_b)],
            settings=settings,
            queue_name="q",
        )


def test_duplicate_within_blueprint_refused_and_nothing_added() -> None:
    blueprint = make("one", job_a)
    with pytest.raises(DuplicateNameError):
        blueprint.add_function(job_b, aliases=("fresh", "job_a"))
    assert blueprint.names() == ["job_a"]


def test_duplicate_cron_name_refused(settings: Settings) -> None:
    one, two = Blueprint("one"), Blueprint("two")
    one.add_cron(job_a, name="cron:tick", schedule={"second": 0})
    two.add_cron(job_b, name="cron:tick", schedule={"second": 0})
    with pytest.raises(DuplicateNameError, match="cron:tick"):
        build_worker_settings("S", [one, two], settings=settings, queue_name="q")


def test_attributes_on_own_dict(settings: Settings) -> None:
    one = make("one", job_a, aliases=("old_a",))
    one.add_cron(job_b, name="cron:b", schedule=lambda s: {"minute": {s.consensus_hour}})
    cls = build_worker_settings("S", [one], settings=settings, queue_name="my:queue")
    own = vars(cls)
    for attribute in (
        "functions",
        "cron_jobs",
        "on_startup",
        "on_shutdown",
        "queue_name",
        "redis_settings",
    ):
        assert attribute in own
    kwargs = get_kwargs(cls)
    assert kwargs["queue_name"] == "my:queue"
    assert {f.name for f in kwargs["functions"]} == {"ping", "job_a", "old_a"}
    (cron,) = kwargs["cron_jobs"]
    assert (cron.name, cron.minute, cron.keep_result_s) == ("cron:b", {2}, 86400)


async def test_hooks_chained_in_order_with_shared_ctx(settings: Settings, arq_pool: Any) -> None:
    calls: list[str] = []
    one, two = make("one", job_a), make("two", job_b)

    @one.startup
    async def one_up(ctx: Ctx) -> None:
        ctx["shared"] = "from one"
        calls.append("one up")

    @two.startup
    async def two_up(ctx: Ctx) -> None:
        calls.append(f"two up sees {ctx['shared']}")

    @one.shutdown
    async def one_down(ctx: Ctx) -> None:
        calls.append("one down")

    @two.shutdown
    async def two_down(ctx: Ctx) -> None:
        calls.append("two down")
        raise RuntimeError("a failing shutdown hook does not stop the others")

    cls = build_worker_settings("S", [one, two], settings=settings, queue_name="q")
    ctx: dict[str, Any] = {"redis": arq_pool}
    await cls.on_startup(ctx)  # type: ignore[attr-defined]
    assert ctx["settings"] is settings and "db_engine" in ctx
    await cls.on_shutdown(ctx)  # type: ignore[attr-defined]
    assert calls == ["one up", "two up sees from one", "two down", "one down"]
    assert "db_engine" not in ctx


async def test_failed_startup_shuts_down_started_blueprints(
    settings: Settings, arq_pool: Any
) -> None:
    calls: list[str] = []
    one, two = make("one", job_a), make("two", job_b)

    @one.shutdown
    async def one_down(ctx: Ctx) -> None:
        calls.append("one down")

    @two.startup
    async def two_up(ctx: Ctx) -> None:
        raise RuntimeError("boom")

    cls = build_worker_settings("S", [one, two], settings=settings, queue_name="q")
    with pytest.raises(RuntimeError, match="boom"):
        await cls.on_startup({"redis": arq_pool})  # type: ignore[attr-defined]
    assert calls == ["one down"]
