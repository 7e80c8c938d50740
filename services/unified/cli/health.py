"""`ai-worker check`: one exit code for Docker/Kubernetes healthchecks and supervisord."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import click

from services.core import migrations
from services.core.health import ServiceCheck, check_services, redis_client
from services.core.heartbeat import live_workers
from services.core.settings import Settings
from services.unified.cli.common import emit, load_settings_or_fail

KINDS = ("unified", "long_tasks", "memory", "any")


async def check_schema(settings: Settings) -> ServiceCheck:
    try:
        current = await migrations.current_revision(settings)
        head = migrations.head_revision(settings)
    except Exception as error:
        return ServiceCheck(
            "schema", False, f"cannot read the schema version ({type(error).__name__})"
        )
    if current != head:
        return ServiceCheck(
            "schema", False, f"schema at {current}, code expects {head}: run `ai-worker migrate`"
        )
    return ServiceCheck("schema", True, f"schema at head ({head})")


async def check_workers(settings: Settings, kind: str, host: str | None = None) -> ServiceCheck:
    client = redis_client(settings)
    try:
        workers = await live_workers(client, settings.key_prefix)
    except Exception as error:
        return ServiceCheck("worker", False, f"cannot read heartbeats ({type(error).__name__})")
    finally:
        await client.aclose()
    fresh_after = time.time() - 3 * settings.heartbeat_seconds
    matching = [
        w
        for w in workers
        if (kind == "any" or w["kind"] == kind)
        and w["last_heartbeat"] >= fresh_after
        and (host is None or w["host"] == host)
    ]
    where = f" on host {host}" if host else ""
    if not matching:
        return ServiceCheck("worker", False, f"no {kind} worker{where} has a fresh heartbeat")
    return ServiceCheck("worker", True, f"{len(matching)} {kind} worker(s) alive{where}")


async def run_checks(settings: Settings, kind: str, host: str | None = None) -> list[ServiceCheck]:
    redis_check, postgres_check = await check_services(settings)
    checks = [redis_check, postgres_check]
    if postgres_check.ok:
        checks.append(await check_schema(settings))
    else:
        checks.append(ServiceCheck("schema", False, "not checked: PostgreSQL unreachable"))
    if redis_check.ok:
        checks.append(await check_workers(settings, kind, host))
    else:
        checks.append(ServiceCheck("worker", False, "not checked: Redis unreachable"))
    return checks


@click.command()
@click.option(
    "--kind",
    type=click.Choice(KINDS),
    default="unified",
    show_default=True,
    help="Which worker must be alive.",
)
@click.option(
    "--local",
    is_flag=True,
    help="Only count workers on this host: what a container or host healthcheck needs.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
def check(kind: str, local: bool, as_json: bool) -> None:
    """Exit 0 only if Redis and PostgreSQL answer, the schema is at head and a worker of
    KIND (on this host, with --local) has a fresh heartbeat; otherwise exit 1 and say what
    failed."""
    settings = load_settings_or_fail()
    checks = asyncio.run(run_checks(settings, kind, socket.gethostname() if local else None))
    data: dict[str, Any] = {"ok": all(c.ok for c in checks), "checks": [c.__dict__ for c in checks]}
    emit(
        data,
        as_json,
        lambda d: "\n".join(
            f"{'ok  ' if c['ok'] else 'FAIL'} {c['name']}: {c['detail']}" for c in d["checks"]
        ),
    )
    raise SystemExit(0 if data["ok"] else 1)
