"""Long-task claiming and runner throughput on a 1,000,000-row table.

    python -m bench.long_tasks_claim

Creates its own database (`aiw_bench_<random>`, via BENCH_POSTGRES_ADMIN_URL, default
postgresql://postgres@127.0.0.1:5432/postgres), migrates it, fills 1,000,000 tasks in
mixed states (1,000 of them due), and measures:

1. the median time to claim 100 due tasks with the production claim (`store.claim`,
   rolled back after each round so every round sees the same table); bar: under 10 ms;
2. that two concurrent claimers get disjoint tasks;
3. no-op long tasks per second through one real `Runner`, against the raw claim query
   run alone (claiming batches of the same size and committing) in the same script.

The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core import migrations
from services.core.db import create_engine, create_session_factory
from services.core.settings import load_settings
from services.long_tasks import store
from services.long_tasks.runner import Runner, RunnerConfig

Sessions = async_sessionmaker[AsyncSession]
ADMIN_URL = os.environ.get(
    "BENCH_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)

FILL_SQL = """
INSERT INTO long_tasks (kind, payload, status, priority, run_at, attempts, max_attempts,
                        lease_owner, lease_expires_at, finished_at, result)
SELECT 'bench.filler', jsonb_build_object('n', g), s.status, g % 3,
       CASE WHEN s.status = 'pending' AND g % 1000 <> 0 THEN now() + interval '1 day'
            ELSE now() - interval '1 minute' END,
       CASE WHEN s.status IN ('pending') THEN 0 ELSE 1 END, 3,
       CASE WHEN s.status = 'running' THEN 'bench-other' END,
       CASE WHEN s.status = 'running' THEN now() + interval '1 hour' END,
       CASE WHEN s.status IN ('succeeded', 'failed', 'cancelled') THEN now() END,
       CASE WHEN s.status = 'succeeded' THEN '{"ok": true}'::jsonb END
FROM generate_series(1, $1) AS g,
LATERAL (SELECT CASE
    WHEN g % 1000 <= 10 THEN 'pending'      -- 1 in 1000 due, 10 in 1000 in the future
    WHEN g % 1000 <= 12 THEN 'running'
    WHEN g % 1000 <= 20 THEN 'failed'
    WHEN g % 1000 <= 25 THEN 'cancelled'
    ELSE 'succeeded' END AS status) AS s
"""


async def admin(sql: str) -> None:
    connection = await asyncpg.connect(ADMIN_URL)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def fill(dsn: str, rows: int) -> dict[str, int]:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(FILL_SQL, rows)
        await connection.execute("VACUUM ANALYZE long_tasks")
        counts = await connection.fetch(
            "SELECT status, count(*) FILTER (WHERE status <> 'pending' OR run_at <= now()) AS due,"
            " count(*) AS total FROM long_tasks GROUP BY status"
        )
    finally:
        await connection.close()
    return {r["status"]: r["total"] for r in counts}


async def insert_noops(sessions: Sessions, count: int) -> None:
    async with sessions() as session, session.begin():
        await session.execute(
            sa.text(
                "INSERT INTO long_tasks (kind, payload, priority) "
                "SELECT 'builtin.noop', '{}'::jsonb, 5 FROM generate_series(1, :n)"
            ),
            {"n": count},
        )


async def remaining(sessions: Sessions) -> int:
    async with sessions() as session:
        return int(
            (
                await session.execute(
                    sa.text(
                        "SELECT count(*) FROM long_tasks WHERE kind = 'builtin.noop' "
                        "AND status IN ('pending', 'running')"
                    )
                )
            ).scalar_one()
        )


async def run(url: str, rows: int, rounds: int, tasks: int, concurrency: int) -> None:
    dsn = url
    started = time.perf_counter()
    counts = await fill(dsn, rows)
    print(f"filled {sum(counts.values()):,} rows in {time.perf_counter() - started:.1f}s: {counts}")

    settings = load_settings(database_url=url, db_pool_size=max(5, concurrency))
    engine = create_engine(settings)
    sessions = create_session_factory(engine)

    # 1. claim 100 due tasks, rolled back each round
    timings = []
    for i in range(rounds + 5):
        async with sessions() as session:
            await session.begin()
            t0 = time.perf_counter()
            claimed = await store.claim(session, "bench", 100, 60)
            elapsed = time.perf_counter() - t0
            await session.rollback()
        assert len(claimed) == 100, len(claimed)
        if i >= 5:  # warm-up rounds excluded
            timings.append(elapsed * 1000)
    timings.sort()
    p95 = timings[int(len(timings) * 0.95) - 1]
    print(
        f"claim 100 of {rows:,}: median {statistics.median(timings):.2f} ms, "
        f"p95 {p95:.2f} ms, min {timings[0]:.2f} ms ({rounds} rounds)"
    )

    # 2. two concurrent claimers get disjoint tasks
    async def claim_and_hold(owner: str) -> set[int]:
        async with sessions() as session:
            await session.begin()
            got = await store.claim(session, owner, 100, 60)
            await asyncio.sleep(0.05)  # hold the row locks while the other claims
            await session.rollback()
        return {c.lease.task_id for c in got}

    first, second = await asyncio.gather(claim_and_hold("a"), claim_and_hold("b"))
    print(
        f"two concurrent claimers: {len(first)} + {len(second)} tasks, overlap {len(first & second)}"
    )
    assert not first & second

    # 3. throughput: the raw claim query alone vs. no-op tasks through one runner
    async with sessions() as session, session.begin():
        await session.execute(
            sa.text(
                "UPDATE long_tasks SET run_at = now() + interval '1 day' WHERE status = 'pending'"
            )
        )
    await insert_noops(sessions, tasks)
    t0 = time.perf_counter()
    claimed_total = 0
    while claimed_total < tasks:
        async with sessions() as session, session.begin():
            claimed_total += len(await store.claim(session, "raw", concurrency, 60))
    raw_rate = tasks / (time.perf_counter() - t0)
    async with sessions() as session, session.begin():
        await session.execute(
            sa.text(
                "UPDATE long_tasks SET status = 'succeeded', "
                "lease_owner = NULL, lease_expires_at = NULL "
                "WHERE kind = 'builtin.noop'"
            )
        )
    await insert_noops(sessions, tasks)
    runner = Runner(
        sessions=sessions,
        owner="bench-runner",
        config=RunnerConfig(concurrency=concurrency, lease_seconds=60),
    )
    t0 = time.perf_counter()
    runner.start()
    while True:
        left = await remaining(sessions)
        if not left:
            break
        await asyncio.sleep(0.02)
    runner_rate = tasks / (time.perf_counter() - t0)
    await runner.stop()
    print(
        f"throughput (concurrency {concurrency}, {tasks:,} tasks): runner {runner_rate:,.0f} "
        f"no-op tasks/s; raw claim query alone {raw_rate:,.0f} tasks/s; "
        f"ratio {runner_rate / raw_rate:.2f}"
    )
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[4, 16])
    args = parser.parse_args()
    name = f"aiw_bench_{uuid.uuid4().hex[:8]}"
    base, _, _ = ADMIN_URL.rpartition("/")
    url = f"{base}/{name}"
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        migrations.upgrade(load_settings(database_url=url), "head")
        for i, concurrency in enumerate(args.concurrency):
            if i:  # a fresh table per run
                asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                asyncio.run(admin(f'CREATE DATABASE "{name}"'))
                migrations.upgrade(load_settings(database_url=url), "head")
            asyncio.run(run(url, args.rows, args.rounds, args.tasks, concurrency))
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
