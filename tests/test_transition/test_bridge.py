"""Jobs on the legacy queues: moved atomically to the unified queue, never while running."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from arq.connections import ArqRedis
from arq.constants import in_progress_key_prefix
from arq.jobs import Job

from services.core.settings import Settings
from services.unified.bridge import drain_queue
from tests.support.polling import wait_for
from tests.support.processes import WorkerProcess

REPO_ROOT = Path(__file__).resolve().parents[2]


async def test_drain_moves_waiting_jobs_and_leaves_in_progress(
    arq_pool: ArqRedis, settings: Settings
) -> None:
    legacy = settings.memory_queue_name
    jobs = [await arq_pool.enqueue_job("ping", i, _queue_name=legacy) for i in range(5)]
    deferred = await arq_pool.enqueue_job("ping", "later", _queue_name=legacy, _defer_by=3600)
    assert all(jobs) and deferred is not None
    busy = jobs[0].job_id
    await arq_pool.set(in_progress_key_prefix + busy, b"1", px=60_000)
    deferred_score = await arq_pool.zscore(legacy, deferred.job_id)

    result = await drain_queue(arq_pool, legacy, settings.queue_name)

    assert (result.moved, result.in_progress) == (5, 1)
    assert [m.decode() for m in await arq_pool.zrange(legacy, 0, -1)] == [busy]
    assert await arq_pool.zcard(settings.queue_name) == 5
    assert await arq_pool.zscore(settings.queue_name, deferred.job_id) == deferred_score
    assert await arq_pool.exists(in_progress_key_prefix + busy) == 1


async def test_drain_refuses_same_queue(arq_pool: ArqRedis, settings: Settings) -> None:
    try:
        await drain_queue(arq_pool, settings.queue_name, settings.queue_name)
    except ValueError as error:
        assert "same queue" in str(error)
    else:
        raise AssertionError("expected ValueError")


async def test_unified_worker_runs_jobs_left_on_legacy_queues(
    arq_pool: ArqRedis, settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    """After the legacy workers are gone, old producers' jobs still run exactly once."""
    jobs = []
    for queue in (settings.long_tasks_queue_name, settings.memory_queue_name):
        jobs += [
            await arq_pool.enqueue_job("ping", f"{queue}-{i}", _queue_name=queue) for i in range(20)
        ]
    start_worker("app.workers.unified_worker.UnifiedWorkerSettings")

    async def bridged() -> bool:
        return not any(
            [
                await arq_pool.zcard(settings.long_tasks_queue_name),
                await arq_pool.zcard(settings.memory_queue_name),
            ]
        )

    await wait_for(bridged, timeout=30, message="legacy queues bridged")
    # A moved job is looked up on the queue it now sits in (arq's Job remembers the old one).
    moved = [
        Job(
            job.job_id,
            arq_pool,
            _queue_name=settings.queue_name,
            _deserializer=arq_pool.job_deserializer,
        )
        for job in jobs
        if job
    ]
    results = await asyncio.gather(*(job.result(timeout=30) for job in moved))
    assert sorted(results) == sorted(
        f"{q}-{i}"
        for q in (settings.long_tasks_queue_name, settings.memory_queue_name)
        for i in range(20)
    )
    assert await arq_pool.zcard(settings.long_tasks_queue_name) == 0
    assert await arq_pool.zcard(settings.memory_queue_name) == 0


async def test_bridge_can_be_turned_off(
    arq_pool: ArqRedis, settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    job = await arq_pool.enqueue_job("ping", "stay", _queue_name=settings.memory_queue_name)
    marker = await arq_pool.enqueue_job("ping", "marker")
    assert job is not None and marker is not None
    start_worker(
        "services.unified.worker.UnifiedWorkerSettings", env={"BRIDGE_LEGACY_QUEUES": "false"}
    )
    assert await marker.result(timeout=30) == "marker"
    assert await arq_pool.zcard(settings.memory_queue_name) == 1


async def test_cli_drain_reports_moved(
    arq_pool: ArqRedis, settings: Settings, worker_env: dict[str, str]
) -> None:
    for i in range(3):
        await arq_pool.enqueue_job("ping", i, _queue_name=settings.memory_queue_name)
    binary = str(Path(sys.executable).parent / "ai-worker")
    result = await asyncio.to_thread(
        subprocess.run,
        [binary, "queues", "drain", "--from", settings.memory_queue_name],
        env=worker_env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert (
        f"moved 3 job(s) from {settings.memory_queue_name} to {settings.queue_name}"
        in result.stdout
    )
    assert await arq_pool.zcard(settings.queue_name) == 3


async def test_legacy_worker_forwards_other_subsystems_jobs(
    arq_pool: ArqRedis, settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    """A job for the other subsystem is handed on, not failed (forwarders in legacy settings)."""
    from services.unified.legacy import LongTasksWorkerSettings, MemoryWorkerSettings

    for cls in (LongTasksWorkerSettings, MemoryWorkerSettings):
        names = {f.name for f in vars(cls)["functions"]}
        assert "ping" in names

    worker = start_worker("app.long_tasks.worker.WorkerSettings")
    memory_names = [f.name for f in vars(MemoryWorkerSettings)["functions"] if f.name != "ping"]
    if not memory_names:
        worker.stop()
        return  # the memory subsystem has no functions yet: nothing to forward
    name = memory_names[0]
    job = await arq_pool.enqueue_job(name, "t-forward", _queue_name=settings.long_tasks_queue_name)
    assert job is not None
    info = await job.result(timeout=30)
    assert info["forwarded_to"] == settings.memory_queue_name
    await wait_for(
        lambda: arq_pool.zcard(settings.memory_queue_name), message="forwarded job queued"
    )


async def test_a_late_worker_cannot_rerun_a_finished_cron_tick(
    arq_pool: ArqRedis, settings: Settings, worker_env: dict[str, str], tmp_path: Path
) -> None:
    """arq's cron default keeps no result, so 60 s after a tick its id is free again and a
    worker whose clock lags can run the tick twice; ours keep the result for a day."""
    tick = "cron:long_tasks_poll:1796400000123"
    job = await arq_pool.enqueue_job("cron:long_tasks_poll", _job_id=tick)
    assert job is not None
    worker = WorkerProcess.arq(
        "services.unified.worker.UnifiedWorkerSettings", worker_env, tmp_path / "w.log", "--burst"
    ).start()
    assert worker.wait(timeout=60) == 0, worker.output()
    assert (await job.result_info()) is not None
    assert await arq_pool.pttl(f"arq:result:{tick}") > 23 * 3600 * 1000
    await arq_pool.delete(in_progress_key_prefix + tick)  # what arq's 60 s expiry does
    assert await arq_pool.enqueue_job("cron:long_tasks_poll", _job_id=tick) is None
