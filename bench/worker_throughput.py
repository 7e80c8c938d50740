"""No-op throughput and enqueue-to-start latency: unified worker vs bare arq vs SAQ.

python -m bench.worker_throughput         # 5 x 5,000 jobs, 3 x 150 latency jobs per worker
python -m bench.worker_throughput --jobs 2000 --rounds 9 --latency-jobs 300 --no-info

Each worker is a real separate process on Redis DB 13 (``BENCH_REDIS_DB``) with its own
queue names and key prefix:

- ``bare-arq``: `BareArqSettings` below: one no-op function, and the unified worker's
  shipped arq settings (max_jobs, poll_delay, timeouts, keep_result, max_tries, the msgpack
  serializer, the same Redis settings);
- ``unified``: `services.unified.worker.UnifiedWorkerSettings` running its ``ping`` job;
- ``saq``: a SAQ worker with a no-op function and SAQ's defaults (concurrency 10; its CLI
  logs at ERROR unless ``-v``).

The arq workers run twice: with ``LOG_LEVEL=WARNING`` (arq's CLI log config at WARNING for
the bare one: same logging for both) and as users run them (unified ``LOG_LEVEL=INFO``, the
shipped default; bare arq with its default INFO logging: two lines per job each).

All workers start, warm up and are then paused (SIGSTOP) while another one is measured, so
a measurement never shares the 2 cores with another idle worker; the order rotates each
round. Throughput: N jobs enqueued in pipelined batches (arq: the same PSETEX + ZADD that
`enqueue_job` does; SAQ: its own enqueue script), timed from the first enqueue to the last
job's recorded finish time. Latency: jobs enqueued one at a time at a steady rate with each
framework's own enqueue call; start - enqueue from the times each framework records.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

from bench._worker_common import (
    PYTHON,
    WorkerProcess,
    Workers,
    arq_argv,
    arq_enqueue_batch,
    arq_results,
    flush_bench_db,
    median,
    percentile,
    prepare_database,
    redis_client,
    redis_url,
    run_id,
    wait_idle,
    worker_env,
)

BATCH = 500  # jobs per pipeline

# --- worker definitions (imported by the worker processes) -------------------------------


async def noop(ctx: dict[str, Any], payload: object = None) -> object:
    """The no-op job of the bare arq and SAQ workers (answers like the unified `ping`)."""
    return "pong" if payload is None else payload


def _bare_arq_settings() -> type:
    from arq.worker import func

    # the unified worker's own arq options: "same settings" by construction
    from services.core.composition import arq_worker_options
    from services.core.settings import load_settings

    settings = load_settings()
    options = arq_worker_options(settings, settings.queue_name)
    functions = [func(noop, name="noop")]  # type: ignore[arg-type]
    return type("BareArqSettings", (), {"functions": functions, **options})


#: arq's own CLI log config, at WARNING (``--custom-log-dict``).
ARQ_WARNING_LOG = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {
        "arq.standard": {
            "level": "WARNING",
            "class": "logging.StreamHandler",
            "formatter": "arq.standard",
        }
    },
    "formatters": {"arq.standard": {"format": "%(asctime)s: %(message)s", "datefmt": "%H:%M:%S"}},
    "loggers": {"arq": {"handlers": ["arq.standard"], "level": "WARNING"}},
}


def saq_settings() -> dict[str, Any]:
    """SAQ worker settings (``python -m saq bench.worker_throughput.saq_settings``)."""
    from saq import Queue

    queue = Queue.from_url(_env_redis_url(), name=os.environ["QUEUE_NAME"])
    return {"queue": queue, "functions": [noop]}


def _env_redis_url() -> str:
    host = os.environ.get("REDIS_HOST", "127.0.0.1")
    port = os.environ.get("REDIS_PORT", "6379")
    return f"redis://{host}:{port}/{os.environ.get('REDIS_DB', '0')}"


def __getattr__(name: str) -> Any:
    # Built on first access, in the worker process, from its environment.
    if name == "BareArqSettings":
        value = _bare_arq_settings()
        globals()[name] = value
        return value
    raise AttributeError(name)


# --- the bench ---------------------------------------------------------------------------


@dataclass
class Contender:
    name: str
    kind: str  # "arq" | "saq"
    function: str
    worker: WorkerProcess
    throughput: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)  # worker CPU (user+sys) per job
    p50: list[float] = field(default_factory=list)
    p95: list[float] = field(default_factory=list)
    failures: int = 0
    saq_queue: Any = None


def contenders(include_info: bool) -> list[Contender]:
    bare = "bench.worker_throughput.BareArqSettings"
    unified = "services.unified.worker.UnifiedWorkerSettings"
    quiet = ("--custom-log-dict", "bench.worker_throughput.ARQ_WARNING_LOG")
    specs: list[tuple[str, str, str, list[str], str]] = [
        ("bare-arq WARNING", "arq", "noop", arq_argv(bare, *quiet), "WARNING"),
        ("unified WARNING", "arq", "ping", arq_argv(unified), "WARNING"),
        # the standard loop, like the bare worker: the like-for-like comparison
        ("unified WARNING asyncio", "arq", "ping", arq_argv(unified), "WARNING"),
        ("saq (defaults)", "saq", "noop", [PYTHON, "-m", "saq", saq_path()], "WARNING"),
    ]
    if include_info:
        specs += [
            ("bare-arq INFO", "arq", "noop", arq_argv(bare), "INFO"),
            ("unified INFO", "arq", "ping", arq_argv(unified), "INFO"),
        ]
    result = []
    for name, kind, function, argv, level in specs:
        tag = run_id()
        env = worker_env(tag, level)
        if name.endswith("asyncio"):
            env["WORKER_EVENT_LOOP"] = "asyncio"
        worker = WorkerProcess(name=name, argv=argv, env=env, queue=env["QUEUE_NAME"])
        result.append(Contender(name=name, kind=kind, function=function, worker=worker))
    return result


def saq_path() -> str:
    return "bench.worker_throughput.saq_settings"


# arq --------------------------------------------------------------------------------------


async def arq_throughput(c: Contender, n: int) -> float:
    redis = redis_client()
    try:
        started = time.time()
        ids = await arq_enqueue_batch(redis, c.worker.queue, c.function, n)
        results = await arq_results(redis, c.worker.queue, ids, timeout=120)
    finally:
        await redis.aclose()
    c.failures += sum(1 for r in results if not r["s"])
    finished = max(r["ft"] for r in results) / 1000
    return n / (finished - started)


async def arq_latency(c: Contender, n: int, rate: float) -> list[float]:
    from services.core.redis import create_pool
    from services.core.settings import load_settings

    settings = load_settings(
        redis_host=c.worker.env["REDIS_HOST"],
        redis_port=int(c.worker.env["REDIS_PORT"]),
        redis_db=int(c.worker.env["REDIS_DB"]),
    )
    pool = await create_pool(settings, queue_name=c.worker.queue)
    ids: list[str] = []
    try:
        await paced(n, rate, lambda: _arq_enqueue_one(pool, c.function, ids))
        results = await arq_results(pool, c.worker.queue, ids, timeout=60)
    finally:
        await pool.aclose()
    c.failures += sum(1 for r in results if not r["s"])
    return [float(r["st"] - r["et"]) for r in results]


async def _arq_enqueue_one(pool: Any, function: str, ids: list[str]) -> None:
    job = await pool.enqueue_job(function)
    ids.append(job.job_id)


# saq --------------------------------------------------------------------------------------


async def saq_queue(c: Contender) -> Any:
    if c.saq_queue is None:
        from saq import Queue

        c.saq_queue = Queue.from_url(redis_url(), name=c.worker.queue)
        await c.saq_queue.connect()
    return c.saq_queue


async def saq_jobs(queue: Any, ids: list[str], timeout: float) -> list[dict]:
    redis = queue.redis
    deadline = time.monotonic() + timeout
    while await redis.zcard(queue.namespace("incomplete")):
        if time.monotonic() > deadline:
            raise TimeoutError("SAQ jobs still incomplete")
        await asyncio.sleep(0.02)
    # SAQ takes a job off "incomplete" a moment before it records the completion
    while True:
        jobs = [json.loads(v) for v in await redis.mget(ids)]
        if all(j.get("completed") for j in jobs) or time.monotonic() > deadline:
            return jobs
        await asyncio.sleep(0.02)


async def saq_throughput(c: Contender, n: int) -> float:
    from saq import Job, Status
    from saq.utils import now

    queue = await saq_queue(c)
    if queue._enqueue_script is None:  # registered by the first real enqueue
        await queue.enqueue(c.function)
    script = queue._enqueue_script
    ids: list[str] = []
    started = time.time()
    for start in range(0, n, BATCH):
        async with queue.redis.pipeline(transaction=False) as pipe:
            for _ in range(start, min(n, start + BATCH)):
                job = Job(function=c.function, queue=queue, queued=now(), status=Status.QUEUED)
                ids.append(job.id)
                await script(
                    keys=[queue._incomplete, job.id, queue._queued, job.abort_id],
                    args=[queue.serialize(job), job.scheduled],
                    client=pipe,
                )
            await pipe.execute()
    jobs = await saq_jobs(queue, ids, timeout=120)
    c.failures += sum(1 for j in jobs if j["status"] != "complete")
    # a job SAQ did not complete (counted as a failure above) has no completion time
    finished = max(j.get("completed") or 0 for j in jobs) / 1000
    return n / (finished - started)


async def saq_latency(c: Contender, n: int, rate: float) -> list[float]:
    queue = await saq_queue(c)
    ids: list[str] = []

    async def one() -> None:
        job = await queue.enqueue(c.function)
        ids.append(job.id)

    await paced(n, rate, one)
    jobs = await saq_jobs(queue, ids, timeout=60)
    c.failures += sum(1 for j in jobs if j["status"] != "complete")
    return [float(j["started"] - j["queued"]) for j in jobs]


# common -----------------------------------------------------------------------------------


def cpu_seconds(worker: WorkerProcess) -> float:
    times = worker.ps().cpu_times()
    return float(times.user + times.system)


async def paced(n: int, rate: float, call: Any) -> None:
    """Call `call()` n times, one at a time, at `rate` per second (no catch-up bursts)."""
    interval = 1 / rate
    next_at = time.monotonic()
    for _ in range(n):
        await call()
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def warm_up(c: Contender) -> None:
    """First job round trip (the worker is ready), a burst (connection pools grow), idle."""
    deadline = time.monotonic() + 60
    while True:
        c.worker.check_alive()
        try:
            if c.kind == "arq":
                await asyncio.wait_for(arq_latency(c, 1, 100), 5)
            else:
                await asyncio.wait_for(saq_latency(c, 1, 100), 5)
            break
        except TimeoutError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{c.name} not ready:\n{c.worker.tail()}") from None
    await measure_throughput(c, 500)
    c.failures = 0
    await wait_idle(c.worker)


async def measure_throughput(c: Contender, n: int) -> float:
    return await (arq_throughput(c, n) if c.kind == "arq" else saq_throughput(c, n))


async def measure_latency(c: Contender, n: int, rate: float) -> list[float]:
    return await (arq_latency(c, n, rate) if c.kind == "arq" else saq_latency(c, n, rate))


async def measured(c: Contender, work: Any) -> Any:
    """Run `work()` with only `c`'s worker running (the others stay SIGSTOPped)."""
    c.worker.resume()
    try:
        await wait_idle(c.worker)
        return await work()
    finally:
        c.worker.pause()


def rotated(items: list[Contender], by: int) -> list[Contender]:
    by %= len(items)
    return items[by:] + items[:by]


async def run(args: argparse.Namespace, group: Workers) -> list[Contender]:
    all_c = contenders(include_info=not args.no_info)
    for c in all_c:
        group.start(c.worker)
    for c in all_c:
        await warm_up(c)
        c.worker.pause()
    print(f"throughput: {args.jobs:,} jobs per run", flush=True)
    for round_no in range(args.rounds):
        for c in rotated(all_c, round_no):

            async def throughput(c: Contender = c) -> None:
                before = cpu_seconds(c.worker)
                c.throughput.append(await measure_throughput(c, args.jobs))
                c.cpu_us.append((cpu_seconds(c.worker) - before) / args.jobs * 1e6)

            await measured(c, throughput)
            print(
                f"  round {round_no + 1} {c.name:<17} {c.throughput[-1]:8,.0f} jobs/s  "
                f"{c.cpu_us[-1]:4.0f} us worker CPU/job",
                flush=True,
            )
    print(f"latency: {args.latency_jobs} jobs at {args.rate:g}/s per run", flush=True)
    for round_no in range(args.latency_rounds):
        for c in rotated(all_c, round_no):

            async def latency(c: Contender = c) -> None:
                latencies = await measure_latency(c, args.latency_jobs, args.rate)
                c.p50.append(percentile(latencies, 50))
                c.p95.append(percentile(latencies, 95))

            await measured(c, latency)
            print(
                f"  round {round_no + 1} {c.name:<17} p50 {c.p50[-1]:5.1f} ms  "
                f"p95 {c.p95[-1]:5.1f} ms",
                flush=True,
            )
    for c in all_c:
        if c.saq_queue is not None:
            await c.saq_queue.disconnect()
    return all_c


def report(all_c: list[Contender], args: argparse.Namespace) -> None:
    by_name = {c.name: c for c in all_c}
    print()
    print(
        f"Medians: throughput over {args.rounds} runs of {args.jobs:,} jobs; latency over "
        f"{args.latency_rounds} runs of {args.latency_jobs} jobs at {args.rate:g}/s."
    )
    print()
    print(
        f"{'worker':<18} {'jobs/s':>8} {'min':>8} {'max':>8} {'CPU us/job':>10} "
        f"{'p50 ms':>7} {'p95 ms':>7}  failed"
    )
    for c in all_c:
        print(
            f"{c.name:<18} {median(c.throughput):8,.0f} {min(c.throughput):8,.0f} "
            f"{max(c.throughput):8,.0f} {median(c.cpu_us):10.0f} {median(c.p50):7.1f} "
            f"{median(c.p95):7.1f}  {c.failures}"
        )
    print()
    print("Ratios: of the medians, and (in brackets) the median of the per-round ratios.")

    def ratio(a: str, b: str, bar: float, label: str) -> None:
        if a not in by_name or b not in by_name:
            return
        ta, tb = by_name[a].throughput, by_name[b].throughput
        value = median(ta) / median(tb)
        paired = median([x / y for x, y in zip(ta, tb, strict=True)])
        verdict = "PASS" if value >= bar else "MISS"
        print(f"  {a} / {b}: {value:.2f}x [{paired:.2f}x]  bar >= {bar:g}: {verdict}  {label}")

    ratio("unified WARNING asyncio", "bare-arq WARNING", 0.95, "(same settings, logging, loop)")
    ratio("unified WARNING", "bare-arq WARNING", 0.95, "(same settings and logging, uvloop)")
    ratio("unified INFO", "bare-arq INFO", 0.95, "(as users run them)")
    ratio("unified INFO", "saq (defaults)", 1.0, "(shipped defaults)")
    ratio("unified WARNING", "saq (defaults)", 1.0, "(unified at WARNING)")
    shipped = by_name.get("unified INFO") or by_name["unified WARNING"]
    p50 = median(shipped.p50)
    verdict = "PASS" if p50 <= 50 else "MISS"
    print(f"  {shipped.name} enqueue-to-start p50: {p50:.1f} ms  bar <= 50 ms: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5_000, help="jobs per throughput run")
    parser.add_argument("--rounds", type=int, default=5, help="throughput runs per worker")
    parser.add_argument("--latency-jobs", type=int, default=150, help="jobs per latency run")
    parser.add_argument("--latency-rounds", type=int, default=3, help="latency runs per worker")
    parser.add_argument("--rate", type=float, default=50.0, help="latency enqueue rate, /s")
    parser.add_argument("--no-info", action="store_true", help="skip the INFO-logging runs")
    args = parser.parse_args()
    prepare_database()
    flush_bench_db()
    with Workers() as group:
        all_c = asyncio.run(run(args, group))
    report(all_c, args)


if __name__ == "__main__":
    main()
