"""`ai-worker` root group and the `run` and `migrate` commands."""

from __future__ import annotations

import asyncio
from typing import Any

import click

from services.core.arq_cli import install_event_loop
from services.core.health import check_services
from services.core.logging import configure_logging
from services.unified.cli.common import fail, load_settings_or_fail
from services.unified.cli.enqueue import enqueue
from services.unified.cli.health import check
from services.unified.cli.memory import memory
from services.unified.cli.queues import queues
from services.unified.cli.status import status
from services.unified.cli.tasks import task

WORKERS = {
    "unified": "services.unified.worker.UnifiedWorkerSettings",
    # the legacy classes with forwarders, as `app.*.worker` (without the deprecation warning)
    "long-tasks": "services.unified.legacy.LongTasksWorkerSettings",
    "memory": "services.unified.legacy.MemoryWorkerSettings",
}


def import_worker_settings(worker: str) -> Any:
    from arq.utils import import_string

    return import_string(WORKERS[worker])


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ai-worker")
def main() -> None:
    """ai-worker: the unified arq worker for long tasks and chat memory, and its ops tools."""


@main.command()
@click.argument("worker", type=click.Choice(sorted(WORKERS)), default="unified")
@click.option("--burst", is_flag=True, help="Exit once the queue is empty.")
def run(worker: str, burst: bool) -> None:
    """Run a worker (default: unified); the same as `arq <its settings class>`.

    Checks Redis and PostgreSQL first and exits 1 naming the unreachable one.
    """
    from arq.worker import run_worker

    settings = load_settings_or_fail()
    configure_logging(settings)
    broken = [c for c in asyncio.run(check_services(settings)) if not c.ok]
    if broken:
        fail("; ".join(c.detail for c in broken))
    install_event_loop(settings)
    run_worker(import_worker_settings(worker), **({"burst": True} if burst else {}))


@main.command()
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def migrate(revision: str) -> None:
    """Upgrade the database schema (alembic) to REVISION; safe to run repeatedly."""
    from services.core import migrations

    settings = load_settings_or_fail()
    try:
        migrations.upgrade(settings, revision)
    except migrations.MigrationsNotFound as error:
        fail(str(error))
    except OSError as error:
        fail(f"cannot reach PostgreSQL ({type(error).__name__}): {error}")
    click.echo(
        f"database at {migrations.head_revision(settings) if revision == 'head' else revision}"
    )


main.add_command(check)
main.add_command(status)
main.add_command(enqueue)
main.add_command(queues)
main.add_command(memory)
main.add_command(task)
