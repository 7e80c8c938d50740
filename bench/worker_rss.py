"""RSS of one unified worker process vs the two legacy worker processes together.

python -m bench.worker_rss                  # 3 rounds, 300 ping jobs per process
python -m bench.worker_rss --rounds 5 --jobs 500 --no-breakdown

Each round starts, as real separate processes (``python -m arq ...``) on Redis DB 13:

- the unified worker ``services.unified.worker.UnifiedWorkerSettings``, and
- the legacy pair ``app.long_tasks.worker.WorkerSettings`` + ``app.memory.worker.WorkerSettings``
  (sharing one configuration, as a legacy deployment does),

all with the shipped defaults (``LOG_LEVEL=INFO``). It measures each process with psutil
once it is ready and idle ("startup"), and again after it ran ``--jobs`` ping jobs ("after
jobs"), then stops them. RSS is the bar (what ``ps``/``docker stats`` show); USS (memory
only that process holds) and PSS (shared pages split between sharers) are shown alongside.
The breakdown then imports the worker's dependencies step by step in fresh interpreters
and prints the RSS each step adds: what a worker process's memory is made of.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import time
from dataclasses import dataclass, field

from bench._worker_common import (
    PYTHON,
    REPO,
    WorkerProcess,
    Workers,
    arq_argv,
    arq_enqueue_batch,
    arq_results,
    flush_bench_db,
    median,
    prepare_database,
    redis_client,
    rss_mb,
    run_id,
    wait_idle,
    worker_env,
)

UNIFIED = "services.unified.worker.UnifiedWorkerSettings"
LEGACY_LONG_TASKS = "app.long_tasks.worker.WorkerSettings"
LEGACY_MEMORY = "app.memory.worker.WorkerSettings"
PHASES = ("startup", "after jobs")

#: Cumulative import steps of the breakdown (each step also imports the ones before it).
IMPORT_STEPS: list[tuple[str, str]] = [
    ("python interpreter", "pass"),
    ("+ asyncio, json, logging", "import asyncio, json, logging"),
    ("+ redis-py (asyncio)", "import redis.asyncio"),
    ("+ arq worker", "import arq.worker, arq.cli"),
    ("+ pydantic-settings", "import pydantic_settings"),
    ("+ msgpack, prometheus_client", "import msgpack, prometheus_client"),
    ("+ sqlalchemy asyncio", "import sqlalchemy.ext.asyncio, sqlalchemy.orm"),
    ("+ asyncpg", "import asyncpg, sqlalchemy.dialects.postgresql.asyncpg"),
    ("+ httpx", "import httpx"),
    ("+ services.core", "import services.core.composition, services.core.resources"),
    ("+ long_tasks blueprint", "import services.long_tasks.blueprint"),
    ("+ memory blueprint", "import services.memory.blueprint"),
    ("+ unified worker module", "import services.unified.worker"),
]


@dataclass
class Measured:
    name: str
    worker: WorkerProcess
    samples: dict[str, list[dict[str, float]]] = field(
        default_factory=lambda: {phase: [] for phase in PHASES}
    )


async def ping_round_trip(worker: WorkerProcess, queue: str, n: int, timeout: float) -> None:
    redis = redis_client()
    try:
        ids = await arq_enqueue_batch(redis, queue, "ping", n)
        results = await arq_results(redis, queue, ids, timeout=timeout)
    finally:
        await redis.aclose()
    failed = sum(1 for r in results if not r["s"])
    if failed:
        raise RuntimeError(f"{failed} ping job(s) failed on {worker.name}")


async def wait_ready(worker: WorkerProcess, queue: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        worker.check_alive()
        try:
            await ping_round_trip(worker, queue, 1, timeout=5)
            return
        except TimeoutError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{worker.name} not ready:\n{worker.tail()}") from None


async def one_round(group: Workers, jobs: int) -> list[Measured]:
    unified_env = worker_env(run_id(), "INFO")
    legacy_env = worker_env(run_id(), "INFO")
    plan = [
        ("unified", UNIFIED, unified_env, unified_env["QUEUE_NAME"]),
        ("legacy long_tasks", LEGACY_LONG_TASKS, legacy_env, legacy_env["LONG_TASKS_QUEUE_NAME"]),
        ("legacy memory", LEGACY_MEMORY, legacy_env, legacy_env["MEMORY_QUEUE_NAME"]),
    ]
    measured = []
    for name, path, env, queue in plan:
        worker = WorkerProcess(name=name, argv=arq_argv(path), env=env, queue=queue)
        group.start(worker)
        measured.append(Measured(name, worker))
    try:
        for m in measured:
            await wait_ready(m.worker, m.worker.queue)
        for m in measured:
            await wait_idle(m.worker)
            m.samples["startup"].append(rss_mb(m.worker))
        for m in measured:
            await ping_round_trip(m.worker, m.worker.queue, jobs, timeout=60)
        for m in measured:
            await wait_idle(m.worker)
            m.samples["after jobs"].append(rss_mb(m.worker))
    finally:
        for m in measured:
            group.stop(m.worker)
    return measured


def import_breakdown() -> list[tuple[str, float]]:
    """RSS (MiB) after each cumulative import step, each in a fresh interpreter."""
    rows = []
    code_so_far: list[str] = []
    for label, code in IMPORT_STEPS:
        code_so_far.append(code)
        script = "; ".join(
            [
                "import warnings; warnings.simplefilter('ignore')",
                *code_so_far,
                "import os; print(int(open('/proc/self/statm').read().split()[1])"
                " * os.sysconf('SC_PAGE_SIZE'))",
            ]
        )
        values = []
        for _ in range(3):
            out = subprocess.run(
                [PYTHON, "-c", script],
                cwd=REPO,
                capture_output=True,
                text=True,
                check=True,
                env=worker_env(run_id(), "WARNING"),
            )
            values.append(int(out.stdout.strip().splitlines()[-1]) / 1024 / 1024)
        rows.append((label, median(values)))
    return rows


def report(rounds: list[list[Measured]], jobs: int) -> None:
    def med(name: str, phase: str, key: str) -> float:
        return median([m.samples[phase][0][key] for r in rounds for m in r if m.name == name])

    names = [m.name for m in rounds[0]]
    print(f"\nRSS / USS / PSS in MiB, medians of {len(rounds)} round(s); {jobs} ping jobs each.\n")
    print(f"{'process':<24} {'phase':<11} {'RSS':>7} {'USS':>7} {'PSS':>7}")
    for phase in PHASES:
        for name in names:
            print(
                f"{name:<24} {phase:<11} {med(name, phase, 'rss'):7.1f} "
                f"{med(name, phase, 'uss'):7.1f} {med(name, phase, 'pss'):7.1f}"
            )
        pair = {
            key: med("legacy long_tasks", phase, key) + med("legacy memory", phase, key)
            for key in ("rss", "uss", "pss")
        }
        print(
            f"{'legacy pair (sum)':<24} {phase:<11} {pair['rss']:7.1f} {pair['uss']:7.1f} "
            f"{pair['pss']:7.1f}"
        )
    print()
    for phase in PHASES:
        ratios = []
        for r in rounds:
            by = {m.name: m.samples[phase][0] for m in r}
            legacy = by["legacy long_tasks"]["rss"] + by["legacy memory"]["rss"]
            ratios.append(by["unified"]["rss"] / legacy)
        value = median(ratios)
        verdict = "PASS" if value <= 0.6 else "MISS"
        print(
            f"unified / legacy pair RSS, {phase:<10}: {value:.3f}x  "
            f"(rounds {', '.join(f'{x:.3f}' for x in ratios)}; bar <= 0.6: {verdict})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=300, help="ping jobs per process")
    parser.add_argument("--no-breakdown", action="store_true", help="skip the import breakdown")
    args = parser.parse_args()
    prepare_database()
    flush_bench_db()
    rounds = []
    with Workers() as group:
        for _ in range(args.rounds):
            rounds.append(asyncio.run(one_round(group, args.jobs)))
    report(rounds, args.jobs)
    if not args.no_breakdown:
        print("\nWhat a worker process's RSS is made of (cumulative imports, fresh interpreter):\n")
        previous = 0.0
        for label, value in import_breakdown():
            print(f"  {label:<30} {value:7.1f} MiB  (+{value - previous:5.1f})")
            previous = value


if __name__ == "__main__":
    main()
