"""Real worker processes: each entry point starts, connects and runs jobs."""

from __future__ import annotations

import pickle
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from arq.connections import ArqRedis
from arq.jobs import Job

from services.core.serialization import RemoteJobError
from services.core.settings import Settings
from tests.support.processes import WorkerProcess
from tests.support.services import WORKER_MODE, worker_target

REPO_ROOT = Path(__file__).resolve().parents[2]
ENTRY_POINTS = [
    ("services.unified.worker.UnifiedWorkerSettings", "QUEUE_NAME"),
    ("app.workers.unified_worker.UnifiedWorkerSettings", "QUEUE_NAME"),
    ("app.long_tasks.worker.WorkerSettings", "LONG_TASKS_QUEUE_NAME"),
    ("app.memory.worker.WorkerSettings", "MEMORY_QUEUE_NAME"),
    ("services.long_tasks.worker.WorkerSettings", "LONG_TASKS_QUEUE_NAME"),
    ("services.memory.worker.WorkerSettings", "MEMORY_QUEUE_NAME"),
]


def queue_for(target: str, settings: Settings) -> str:
    if "long_tasks" in target:
        return settings.long_tasks_queue_name
    if "memory" in target:
        return settings.memory_queue_name
    return settings.queue_name


async def test_burst_worker_runs_job_from_create_pool(
    arq_pool: ArqRedis, settings: Settings, worker_env: dict[str, str], tmp_path: Path
) -> None:
    """The mode's worker (unified or legacy) runs a job enqueued with the project's pool."""
    target = worker_target("long_tasks")
    job = await arq_pool.enqueue_job(
        "ping", {"hello": "世界"}, _queue_name=queue_for(target, settings)
    )
    assert job is not None
    worker = WorkerProcess.arq(target, worker_env, tmp_path / "w.log", "--burst").start()
    assert worker.wait(timeout=60) == 0, worker.output()
    assert await job.result(timeout=5) == {"hello": "世界"}


@pytest.mark.parametrize(("target", "queue_variable"), ENTRY_POINTS)
@pytest.mark.parametrize("launcher", ["arq", "python -m arq"])
async def test_every_entry_point_runs(
    arq_pool: ArqRedis,
    worker_env: dict[str, str],
    tmp_path: Path,
    target: str,
    queue_variable: str,
    launcher: str,
) -> None:
    job = await arq_pool.enqueue_job("ping", 7, _queue_name=worker_env[queue_variable])
    assert job is not None
    command = (
        [str(Path(sys.executable).parent / "arq")]
        if launcher == "arq"
        else [sys.executable, "-m", "arq"]
    )
    worker = WorkerProcess([*command, target, "--burst"], worker_env, tmp_path / "w.log").start()
    assert worker.wait(timeout=60) == 0, worker.output()
    assert await job.result(timeout=5) == 7
    if target.startswith("app.") and "unified" not in target:
        assert "deprecated" in worker.output() and "UnifiedWorkerSettings" in worker.output()


async def test_worker_connects_to_postgres_and_stops_on_sigterm(
    start_worker: Callable[..., WorkerProcess],
) -> None:
    worker = start_worker(worker_target("memory"))
    assert worker.stop(timeout=30) == 0
    assert "stopped" in worker.output()


async def test_pickled_job_fails_clearly_without_running(
    arq_pool: ArqRedis, settings: Settings, worker_env: dict[str, str], tmp_path: Path
) -> None:
    """An old producer's pickled job is refused by default and its code never runs."""
    from tests.test_serialization import Booby

    marker = tmp_path / "payload-ran"
    raw = pickle.dumps({"t": None, "f": "ping", "a": [Booby(marker)], "k": {}, "et": 0})
    queue = queue_for(worker_target("memory"), settings)
    await arq_pool.psetex("arq:job:pickled-1", 60_000, raw)
    await arq_pool.zadd(queue, {"pickled-1": 1})
    worker = WorkerProcess.arq(
        worker_target("memory"), worker_env, tmp_path / "w.log", "--burst"
    ).start()
    assert worker.wait(timeout=60) == 0, worker.output()
    info = await Job("pickled-1", arq_pool, _deserializer=arq_pool.job_deserializer).result_info()
    assert info is not None and not info.success
    assert isinstance(info.result, RemoteJobError)
    assert "ACCEPT_PICKLE_JOBS" in str(info.result)
    assert not marker.exists()


def test_legacy_settings_path_imports_with_settings_redis_settings() -> None:
    code = (
        "from app.config.config import settings;"
        "print(type(settings.redis_settings).__name__, settings.redis_settings.port)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["RedisSettings", "6379"]


def test_mode_is_known() -> None:
    assert WORKER_MODE in {"unified", "legacy"}
