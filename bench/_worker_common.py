"""Shared set-up of the worker benchmarks: worker processes, their env, Redis DB 13, clean-up.

Every worker runs as a real separate process (``python -m arq ...`` / ``python -m saq ...``)
with its stderr in a temporary file. `Workers` is a context manager that SIGTERMs (then
SIGKILLs) every process it started, even when the benchmark fails, and flushes the bench
Redis DB (``BENCH_REDIS_DB``, default 13: the worker benchmarks own it).

PostgreSQL: the workers only need a migrated database. By default the benches use their own
database ``aiw_bench_workers`` (created and migrated on first use) so that a stale schema
elsewhere cannot make the long-task runner log errors in a loop during a measurement;
``BENCH_DATABASE_URL`` points them elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psutil
from redis.asyncio import Redis

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
BENCH_REDIS_HOST = os.environ.get("BENCH_REDIS_HOST", "127.0.0.1")
BENCH_REDIS_PORT = int(os.environ.get("BENCH_REDIS_PORT", "6379"))
BENCH_REDIS_DB = int(os.environ.get("BENCH_REDIS_DB", "13"))
BENCH_DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/aiw_bench_workers"
)


def redis_client() -> Redis:
    return Redis(host=BENCH_REDIS_HOST, port=BENCH_REDIS_PORT, db=BENCH_REDIS_DB)


def redis_url() -> str:
    return f"redis://{BENCH_REDIS_HOST}:{BENCH_REDIS_PORT}/{BENCH_REDIS_DB}"


def run_id() -> str:
    return uuid.uuid4().hex[:8]


def worker_env(tag: str, log_level: str = "WARNING", **extra: str) -> dict[str, str]:
    """The environment of one worker process: bench DBs, unique queue names and key prefix."""
    env = dict(os.environ)
    env.update(
        {
            "REDIS_HOST": BENCH_REDIS_HOST,
            "REDIS_PORT": str(BENCH_REDIS_PORT),
            "REDIS_DB": str(BENCH_REDIS_DB),
            "DATABASE_URL": BENCH_DATABASE_URL,
            "QUEUE_NAME": f"bench:{tag}:queue",
            "LONG_TASKS_QUEUE_NAME": f"bench:{tag}:long_tasks",
            "MEMORY_QUEUE_NAME": f"bench:{tag}:memory",
            "KEY_PREFIX": f"bench{tag}:",
            "LOG_LEVEL": log_level,
            "METRICS_PORT": "0",
            "PYTHONUNBUFFERED": "1",
            "PYTHONWARNINGS": "ignore::FutureWarning",  # the legacy paths' deprecation notice
        }
    )
    env.pop("REDIS_URL", None)
    env.update(extra)
    return env


def prepare_database() -> None:
    """Create the bench database if missing and migrate it to head (idempotent)."""
    from urllib.parse import urlsplit

    import asyncpg

    from services.core.migrations import upgrade
    from services.core.settings import load_settings

    parts = urlsplit(BENCH_DATABASE_URL)
    name = parts.path.lstrip("/")

    async def create() -> None:
        admin = await asyncpg.connect(BENCH_DATABASE_URL.rsplit("/", 1)[0] + "/postgres")
        try:
            exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
            if not exists:
                await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()

    asyncio.run(create())
    upgrade(load_settings(database_url=BENCH_DATABASE_URL))


@dataclass
class WorkerProcess:
    """One worker process started by a bench (stderr kept in a temporary file)."""

    name: str
    argv: list[str]
    env: dict[str, str]
    queue: str
    proc: subprocess.Popen[bytes] | None = None
    log: IO[bytes] | None = None
    paused: bool = False
    meta: dict[str, Any] = field(default_factory=dict)

    def start(self) -> WorkerProcess:
        self.log = tempfile.TemporaryFile(prefix=f"bench-{self.name}-")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            self.argv, env=self.env, cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT
        )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def ps(self) -> psutil.Process:
        return psutil.Process(self.pid)

    def check_alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(
                f"worker {self.name} exited with {self.proc.returncode}:\n{self.tail()}"
            )

    def tail(self, lines: int = 30) -> str:
        if self.log is None:
            return ""
        self.log.seek(0)
        text = self.log.read().decode(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def pause(self) -> None:
        """SIGSTOP: an idle worker must not take CPU from the one being measured."""
        if self.proc is not None and self.proc.poll() is None and not self.paused:
            os.kill(self.pid, signal.SIGSTOP)
            self.paused = True

    def resume(self) -> None:
        if self.proc is not None and self.paused:
            os.kill(self.pid, signal.SIGCONT)
            self.paused = False

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds."""
        if self.proc is None:
            return
        self.resume()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.log is not None:
            self.log.close()
            self.log = None


class Workers(contextlib.AbstractContextManager["Workers"]):
    """Starts worker processes and always stops them (and flushes the bench Redis DB)."""

    def __init__(self) -> None:
        self.started: list[WorkerProcess] = []

    def start(self, worker: WorkerProcess) -> WorkerProcess:
        self.started.append(worker.start())
        return worker

    def stop(self, worker: WorkerProcess) -> None:
        worker.stop()
        if worker in self.started:
            self.started.remove(worker)

    def __exit__(self, *exc: object) -> None:
        for worker in reversed(self.started):
            with contextlib.suppress(Exception):
                worker.stop()
        self.started.clear()
        flush_bench_db()


def flush_bench_db() -> None:
    async def flush() -> None:
        redis = redis_client()
        try:
            await redis.flushdb()
        finally:
            await redis.aclose()

    asyncio.run(flush())


def arq_argv(settings_path: str, *options: str) -> list[str]:
    return [PYTHON, "-m", "arq", settings_path, *options]


async def wait_idle(
    worker: WorkerProcess, *, below_percent: float = 5.0, window: float = 0.25, timeout: float = 10
) -> float:
    """Wait until the process uses < `below_percent` of a core over `window`; returns it."""
    process = worker.ps()
    deadline = time.monotonic() + timeout
    process.cpu_percent(None)
    usage = 100.0
    while time.monotonic() < deadline:
        await asyncio.sleep(window)
        worker.check_alive()
        usage = process.cpu_percent(None)
        if usage < below_percent:
            return usage
    return usage


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0-100)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def rss_mb(worker: WorkerProcess) -> dict[str, float]:
    """RSS, USS and PSS of the process in MiB."""
    info = worker.ps().memory_full_info()
    mib = 1024 * 1024
    return {"rss": info.rss / mib, "uss": info.uss / mib, "pss": info.pss / mib}


# arq jobs without arq's per-job WATCH/MULTI: pipelined PSETEX + ZADD, as `enqueue_job` does


async def arq_enqueue_batch(
    redis: Redis, queue: str, function: str, n: int, batch: int = 500
) -> list[str]:
    """Enqueue `n` argument-less jobs in pipelined batches; returns their ids."""
    from arq.constants import expires_extra_ms, job_key_prefix
    from arq.jobs import serialize_job
    from arq.utils import timestamp_ms

    from services.core.serialization import job_serializer

    ids = [uuid.uuid4().hex for _ in range(n)]
    for start in range(0, n, batch):
        pipe = redis.pipeline(transaction=False)
        for job_id in ids[start : start + batch]:
            enqueued = timestamp_ms()
            data = serialize_job(function, (), {}, None, enqueued, serializer=job_serializer)
            pipe.psetex(job_key_prefix + job_id, expires_extra_ms, data)
            pipe.zadd(queue, {job_id: enqueued})
        await pipe.execute()
    return ids


async def arq_results(
    redis: Redis, queue: str, ids: list[str], timeout: float
) -> list[dict[str, Any]]:
    """Wait until every job has a result; returns the raw (msgpack) result dicts in order."""
    import msgpack
    from arq.constants import result_key_prefix

    deadline = time.monotonic() + timeout
    while await redis.zcard(queue) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    results: dict[str, dict[str, Any]] = {}
    missing = list(ids)
    while missing:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(missing)} of {len(ids)} arq jobs without a result")
        values = await redis.mget([result_key_prefix + i for i in missing])
        for job_id, value in zip(missing, values, strict=True):
            if value is not None:
                results[job_id] = msgpack.unpackb(value, raw=False, strict_map_key=False)
        missing = [i for i in missing if i not in results]
        if missing:
            await asyncio.sleep(0.02)
    return [results[i] for i in ids]
