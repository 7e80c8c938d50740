"""Structured logs, secrets that never appear, and the Prometheus endpoint, on real workers."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from arq.connections import ArqRedis
from redis.asyncio import Redis

from services.core.settings import Settings
from tests.support.polling import wait_for
from tests.support.processes import WorkerProcess

REPO_ROOT = Path(__file__).resolve().parents[2]
UNIFIED = "services.unified.worker.UnifiedWorkerSettings"
REDIS_SECRET = "redis-pw-7f3c9a"
PG_SECRET = "pg-pw-2b81d4"
LLM_SECRET = "sk-llm-5e6a0c"


@pytest.fixture
async def secret_env(
    redis: Redis, worker_env: dict[str, str], test_id: str
) -> AsyncIterator[dict[str, str]]:
    """Settings that use real passwords: a Redis ACL user, and a PostgreSQL URL with one."""
    user = f"aiw_{test_id}"
    await redis.execute_command(
        "ACL", "SETUSER", user, "on", f">{REDIS_SECRET}", "~*", "&*", "+@all"
    )
    env = {
        **worker_env,
        "REDIS_URL": f"redis://{user}:{REDIS_SECRET}@127.0.0.1:6379/{worker_env['REDIS_DB']}",
        "DATABASE_URL": worker_env["DATABASE_URL"].replace("postgres@", f"postgres:{PG_SECRET}@"),
        "LLM_API_KEY": LLM_SECRET,
        "LOG_FORMAT": "json",
    }
    yield env
    await redis.execute_command("ACL", "DELUSER", user)


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    binary = str(Path(sys.executable).parent / "ai-worker")
    return subprocess.run(
        [binary, *args], env=env, capture_output=True, text=True, timeout=60, cwd=REPO_ROOT
    )


async def test_json_logs_carry_keys_and_no_secret_is_printed(
    secret_env: dict[str, str], arq_pool: ArqRedis, start_worker: Callable[..., WorkerProcess]
) -> None:
    worker = start_worker(UNIFIED, env=secret_env)
    ok = await arq_pool.enqueue_job("ping", "hello")
    assert ok is not None
    assert await ok.result(timeout=20) == "hello"
    outputs = [worker.output()]
    for args in (
        ("status", "--json"),
        ("check",),
        ("enqueue", "ping", "--wait", "10"),
        ("run", "--help"),
    ):
        result = await asyncio.to_thread(cli, *args, env=secret_env)
        outputs += [result.stdout, result.stderr]
    bad = await asyncio.to_thread(cli, "status", env={**secret_env, "REDIS_PORT": "x"})
    outputs += [bad.stdout, bad.stderr]
    worker.stop()
    outputs.append(worker.output())

    everything = "\n".join(outputs)
    for secret in (REDIS_SECRET, PG_SECRET, LLM_SECRET):
        assert secret not in everything

    records = [json.loads(line) for line in worker.output().splitlines() if line.startswith("{")]
    assert records, worker.output()
    for record in records:
        assert {"ts", "level", "logger", "message"} <= set(record)
    finished = [r for r in records if r.get("function") == "ping" and "outcome" in r]
    assert finished and finished[0]["outcome"] == "success"
    assert {"job_id", "try", "duration"} <= set(finished[0])
    assert not [line for line in worker.output().splitlines() if line and not line.startswith("{")]


async def test_failed_job_is_logged_with_context(
    arq_pool: ArqRedis, start_worker: Callable[..., WorkerProcess]
) -> None:
    worker = start_worker(UNIFIED, env={"LOG_FORMAT": "json"})
    job = await arq_pool.enqueue_job("ping", "x", delay="not-a-number")
    assert job is not None
    with pytest.raises(Exception, match="could not convert"):
        await job.result(timeout=20)
    records = [json.loads(line) for line in worker.output().splitlines() if line.startswith("{")]
    (failed,) = [r for r in records if r.get("outcome") == "failed"]
    assert failed["function"] == "ping" and failed["job_id"] == job.job_id
    assert "ValueError" in failed["error"]


def metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{wanted}}}") or (not labels and line.startswith(f"{name} ")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_metrics_endpoint_counts_jobs(
    arq_pool: ArqRedis, settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    port = random.randint(20000, 59999)
    start_worker(UNIFIED, env={"METRICS_PORT": str(port), "HEARTBEAT_SECONDS": "0.5"})
    url = f"http://127.0.0.1:{port}/metrics"
    async with httpx.AsyncClient() as client:
        before = (await client.get(url)).text
        assert metric(before, "aiw_worker_up", worker="unified") == 1
        jobs = [await arq_pool.enqueue_job("ping", i) for i in range(7)]
        await asyncio.gather(*(job.result(timeout=20) for job in jobs if job))

        async def counted() -> bool:
            text = (await client.get(url)).text
            return metric(text, "aiw_jobs_total", function="ping", outcome="success") >= 7

        await wait_for(counted, timeout=10, message="jobs counted")
        after = (await client.get(url)).text
    assert metric(after, "aiw_jobs_total", function="ping", outcome="success") == 7
    assert metric(after, "aiw_job_duration_seconds_count", function="ping") == 7
    assert f'aiw_queue_depth{{queue="{settings.queue_name}"}}' in after
