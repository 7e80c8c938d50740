"""deploy/supervisord.conf run by the real supervisord from the project's dependencies."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from arq.connections import ArqRedis

from services.core.heartbeat import live_workers
from services.core.settings import Settings
from tests.support.polling import wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]
CONF = REPO_ROOT / "deploy" / "supervisord.conf"
BIN = Path(sys.executable).parent


@pytest.fixture
def supervisor(worker_env: dict[str, str]) -> Iterator[Callable[..., Any]]:
    run_dir = (
        Path("/tmp") / f"aiw-sv-{worker_env['KEY_PREFIX'].strip(':')}"
    )  # unix socket paths are short
    run_dir.mkdir()
    env = {
        **worker_env,
        "AIW_RUN_DIR": str(run_dir),
        "AIW_WORKER_PROCESSES": "2",
        "HEARTBEAT_SECONDS": "0.5",
        "PATH": f"{BIN}:{os.environ['PATH']}",
    }
    env["AIW_METRICS_PORT_PREFIX"] = str(random.randint(200, 599))  # ports 20000-59999
    process = subprocess.Popen(
        [str(BIN / "supervisord"), "-c", str(CONF)],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )

    def ctl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "supervisorctl"), "-c", str(CONF), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
            cwd=REPO_ROOT,
        )

    yield ctl
    ctl("stop", "all")
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
    shutil.rmtree(run_dir, ignore_errors=True)


async def workers_of(redis: ArqRedis, settings: Settings, kind: str) -> list[dict[str, Any]]:
    return [w for w in await live_workers(redis, settings.key_prefix) if w["kind"] == kind]


@pytest.mark.slow
async def test_supervisord_runs_restarts_and_stops_workers(
    supervisor: Callable[..., Any], arq_pool: ArqRedis, settings: Settings
) -> None:
    async def two_unified() -> list[dict[str, Any]] | None:
        workers = await workers_of(arq_pool, settings, "unified")
        return workers if len(workers) == 2 else None

    # 1. the unified workers start from the file
    first = await wait_for(two_unified, timeout=60, message="two unified workers")
    pids = {w["pid"] for w in first}

    # 2. a worker killed with SIGKILL is restarted
    victim = first[0]["pid"]
    os.kill(victim, signal.SIGKILL)

    async def replaced() -> bool:
        workers = await workers_of(arq_pool, settings, "unified")
        current = {w["pid"] for w in workers}
        return len(current) == 2 and victim not in current and (current - pids) != set()

    await wait_for(replaced, timeout=60, message="killed worker restarted")

    # 3. the legacy pair comes up beside them on demand
    result = await asyncio.to_thread(supervisor, "start", "legacy:*")
    assert result.returncode == 0, result.stdout + result.stderr
    for kind in ("long_tasks", "memory"):
        await wait_for(
            lambda k=kind: workers_of(arq_pool, settings, k),
            timeout=60,
            message=f"{kind} legacy worker",
        )
    assert len(await workers_of(arq_pool, settings, "unified")) == 2

    # 4. SIGTERM (supervisorctl stop) with jobs in flight loses none of them
    jobs = [await arq_pool.enqueue_job("ping", i, delay=1.5) for i in range(30)]

    async def some_running() -> bool:
        return sum(w["jobs_running"] for w in await live_workers(arq_pool, settings.key_prefix)) > 0

    await wait_for(some_running, timeout=30, message="jobs in flight")
    result = await asyncio.to_thread(supervisor, "stop", "ai-worker:*", "legacy:*")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ERROR" not in result.stdout
    result = await asyncio.to_thread(supervisor, "start", "ai-worker:*")
    assert result.returncode == 0, result.stdout + result.stderr
    results = await asyncio.gather(*(job.result(timeout=90) for job in jobs if job))
    assert sorted(results) == list(range(30))
