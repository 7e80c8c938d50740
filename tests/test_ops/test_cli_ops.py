"""`ai-worker check`, `status`, `enqueue` against real services and real workers."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from arq.connections import ArqRedis

from services.core.settings import Settings
from tests.support.polling import wait_for_sync
from tests.support.processes import WorkerProcess

REPO_ROOT = Path(__file__).resolve().parents[2]
UNIFIED = "services.unified.worker.UnifiedWorkerSettings"


def ai_worker(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    binary = str(Path(sys.executable).parent / "ai-worker")
    return subprocess.run(
        [binary, *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT
    )


def test_check_flips_when_worker_killed(
    worker_env: dict[str, str], start_worker: Callable[..., WorkerProcess]
) -> None:
    env = {**worker_env, "HEARTBEAT_SECONDS": "0.5"}
    assert ai_worker("check", env=env).returncode == 1
    worker = start_worker(UNIFIED, env=env)
    result = ai_worker("check", "--json", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["ok"] is True
    worker.signal(signal.SIGKILL)
    wait_for_sync(
        lambda: ai_worker("check", env=env).returncode == 1, timeout=20, message="check fails"
    )
    result = ai_worker("check", env=env)
    assert "FAIL worker: no unified worker has a fresh heartbeat" in result.stdout


def test_check_fails_when_postgres_unreachable(
    worker_env: dict[str, str], start_worker: Callable[..., WorkerProcess]
) -> None:
    start_worker(UNIFIED)
    env = {**worker_env, "DATABASE_URL": "postgresql://postgres:pw-secret@127.0.0.1:1/x"}
    result = ai_worker("check", env=env)
    assert result.returncode == 1
    assert "FAIL postgres" in result.stdout and "pw-secret" not in result.stdout + result.stderr


def test_check_kind_requires_that_kind(
    worker_env: dict[str, str], start_worker: Callable[..., WorkerProcess]
) -> None:
    start_worker("app.memory.worker.WorkerSettings")
    assert ai_worker("check", "--kind", "memory", env=worker_env).returncode == 0
    assert ai_worker("check", "--kind", "unified", env=worker_env).returncode == 1
    assert ai_worker("check", "--kind", "any", env=worker_env).returncode == 0


async def test_status_json_counts_queues_and_workers(
    arq_pool: ArqRedis,
    settings: Settings,
    worker_env: dict[str, str],
    start_worker: Callable[..., WorkerProcess],
) -> None:
    for i in range(4):
        await arq_pool.enqueue_job("ping", i, _queue_name=settings.memory_queue_name)
    await arq_pool.enqueue_job(
        "ping", "later", _queue_name=settings.memory_queue_name, _defer_by=3600
    )
    start_worker("app.long_tasks.worker.WorkerSettings")
    result = ai_worker("status", "--json", env=worker_env)
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    memory = next(q for q in status["queues"] if q["queue"] == settings.memory_queue_name)
    assert (memory["depth"], memory["ready"], memory["scheduled"], memory["in_progress"]) == (
        5,
        4,
        1,
        0,
    )
    (worker,) = status["workers"]
    assert worker["kind"] == "long_tasks" and worker["queue"] == settings.long_tasks_queue_name
    human = ai_worker("status", env=worker_env)
    assert human.returncode == 0 and settings.memory_queue_name in human.stdout


def test_enqueue_and_wait(
    worker_env: dict[str, str], start_worker: Callable[..., WorkerProcess]
) -> None:
    start_worker(UNIFIED)
    result = ai_worker(
        "enqueue", "ping", "--arg", '{"n": 3}', "--wait", "20", "--json", env=worker_env
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["success"] is True and outcome["result"] == {"n": 3}


def test_enqueue_wrong_input(worker_env: dict[str, str]) -> None:
    unknown = ai_worker("enqueue", "no_such_function", env=worker_env)
    assert unknown.returncode == 2 and "unknown function 'no_such_function'" in unknown.stderr
    bad_kw = ai_worker("enqueue", "ping", "--kw", "not a pair", env=worker_env)
    assert bad_kw.returncode == 2 and "--kw 'not a pair'" in bad_kw.stderr
    for result in (unknown, bad_kw):
        assert "Traceback" not in result.stderr


def test_commands_say_redis_unreachable(worker_env: dict[str, str]) -> None:
    env = {**worker_env, "REDIS_PORT": "1", "REDIS_PASSWORD": "hunter2"}
    for args in (("status",), ("enqueue", "ping"), ("queues", "drain", "--from", "arq:memory")):
        result = ai_worker(*args, env=env)
        assert result.returncode == 1, args
        assert "Redis unreachable at redis://127.0.0.1:1/" in result.stderr
        assert "Traceback" not in result.stderr and "hunter2" not in result.stderr


def test_every_command_has_help(worker_env: dict[str, str]) -> None:
    for args in (
        ("run",),
        ("migrate",),
        ("check",),
        ("status",),
        ("enqueue",),
        ("queues", "drain"),
        ("task", "submit"),
        ("task", "show"),
        ("task", "list"),
        ("task", "cancel"),
        ("memory", "push"),
        ("memory", "show"),
        ("memory", "consensus"),
    ):
        result = ai_worker(*args, "--help", env=worker_env)
        assert result.returncode == 0 and "Usage:" in result.stdout, args


def test_memory_commands_and_status_backlog(worker_env: dict[str, str]) -> None:
    env = {**worker_env, "L2_QUEUE_TRIGGER_THRESHOLD": "3"}
    for i in range(3):
        message = json.dumps(
            {"id": f"a{i}", "author": "ann", "role": "user", "text": f"point {i}."}
        )
        result = ai_worker(
            "memory", "push", "--topic", "A", "--group", "g1", "--message", message, env=env
        )
        assert result.returncode == 0, result.stderr
    assert "topic A: 3 pending" in result.stdout
    single = json.dumps({"id": "b0", "author": "bob", "role": "user", "text": "hello."})
    assert (
        ai_worker(
            "memory", "push", "--topic", "B", "--group", "g1", "--message", single, env=env
        ).returncode
        == 0
    )

    status = json.loads(ai_worker("status", "--json", env=env).stdout)
    memory = status["memory"]
    assert (memory["topics_pending"], memory["topics_due"], memory["dropped_messages"]) == (2, 1, 0)
    assert memory["last_consensus"] == []

    bad_json = ai_worker(
        "memory", "push", "--topic", "A", "--group", "g1", "--message", "{nope", env=env
    )
    assert bad_json.returncode == 2 and "--message is not valid JSON" in bad_json.stderr
    missing = ai_worker(
        "memory", "push", "--topic", "A", "--group", "g1", "--message", '{"id": "x"}', env=env
    )
    assert missing.returncode == 2 and "invalid message" in missing.stderr
    unknown = ai_worker("memory", "show", "no-such-topic", env=env)
    assert unknown.returncode == 1 and "no memory yet" in unknown.stderr
    none = ai_worker("memory", "consensus", "no-such-group", env=env)
    assert none.returncode == 1 and "has no consensus" in none.stderr
    for result in (bad_json, missing, unknown, none):
        assert "Traceback" not in result.stderr


def test_memory_show_after_update(
    worker_env: dict[str, str], start_worker: Callable[..., WorkerProcess]
) -> None:
    start_worker(UNIFIED)
    for i, text in enumerate(["The deploy is on Friday.", "We agreed the deploy is on Friday!"]):
        message = json.dumps({"id": f"m{i}", "author": "ann", "role": "user", "text": text})
        assert (
            ai_worker(
                "memory",
                "push",
                "--topic",
                "T",
                "--group",
                "g",
                "--message",
                message,
                env=worker_env,
            ).returncode
            == 0
        )
    update = ai_worker(
        "enqueue", "task_update_topic_memory", "--kw", "topic_id=T", "--wait", "30", env=worker_env
    )
    assert update.returncode == 0, update.stdout + update.stderr
    shown = ai_worker("memory", "show", "T", "--json", env=worker_env)
    assert shown.returncode == 0, shown.stderr
    stored = json.loads(shown.stdout)
    assert (stored["topic_id"], stored["group_id"], stored["message_count"]) == ("T", "g", 2)
    human = ai_worker("memory", "show", "T", env=worker_env)
    assert "topic T (group g) v1: 2 messages" in human.stdout


def test_task_commands_and_status_counts(
    worker_env: dict[str, str], start_worker: Callable[..., WorkerProcess]
) -> None:
    submitted = ai_worker(
        "task", "submit", "builtin.noop", "--payload", '{"n": 1}', "--json", env=worker_env
    )
    assert submitted.returncode == 0, submitted.stderr
    first = json.loads(submitted.stdout)
    assert first["status"] == "pending"
    later = ai_worker(
        "task", "submit", "builtin.noop", "--schedule", "0 3 * * *", "--json", env=worker_env
    )
    second = json.loads(later.stdout)

    status = json.loads(ai_worker("status", "--json", env=worker_env).stdout)
    assert status["long_tasks"]["by_state"]["pending"] == 2
    assert status["long_tasks"]["oldest_due_pending"]["id"] == first["id"]
    assert status["long_tasks"]["expired_leases"] == []

    cancelled = ai_worker("task", "cancel", str(second["id"]), "--json", env=worker_env)
    assert json.loads(cancelled.stdout)["status"] == "cancelled"
    start_worker(UNIFIED)
    wait_for_sync(
        lambda: (
            json.loads(
                ai_worker("task", "show", str(first["id"]), "--json", env=worker_env).stdout
            )["status"]
            == "succeeded"
        ),
        timeout=30,
        message="task succeeded",
    )
    listed = json.loads(
        ai_worker("task", "list", "--status", "succeeded", "--json", env=worker_env).stdout
    )
    assert [t["id"] for t in listed] == [first["id"]]
    status = json.loads(ai_worker("status", "--json", env=worker_env).stdout)
    by_state = status["long_tasks"]["by_state"]
    assert (by_state["pending"], by_state["succeeded"], by_state["cancelled"]) == (0, 1, 1)


def test_task_commands_wrong_input(worker_env: dict[str, str]) -> None:
    cases = [
        (("task", "show", "999999"), 1, "no long task with id 999999"),
        (("task", "cancel", "999999"), 1, "no long task with id 999999"),
        (("task", "submit", "no.such.kind"), 2, "no.such.kind"),
        (("task", "submit", "builtin.noop", "--payload", "[1, 2]"), 2, "JSON object"),
        (("task", "submit", "builtin.noop", "--payload", "{bad"), 2, "--payload is not valid JSON"),
        (("task", "submit", "builtin.noop", "--schedule", "every day"), 2, "every day"),
        (("task", "submit", "builtin.noop", "--priority", "-1"), 2, "priority"),
        (("task", "show", "abc"), 2, "abc"),
    ]
    for args, code, text in cases:
        result = ai_worker(*args, env=worker_env)
        assert result.returncode == code, (args, result.stdout, result.stderr)
        assert text in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr


async def test_pickled_jobs_accepted_when_allowed_and_counted(
    arq_pool: ArqRedis, worker_env: dict[str, str], start_worker: Callable[..., WorkerProcess]
) -> None:
    """With ACCEPT_PICKLE_JOBS=true an old producer's job runs, and status counts it."""
    import pickle

    from arq.jobs import Job

    env = {**worker_env, "ACCEPT_PICKLE_JOBS": "true", "HEARTBEAT_SECONDS": "0.3"}
    start_worker(UNIFIED, env=env)
    for i in range(3):
        raw = pickle.dumps({"t": None, "f": "ping", "a": [f"old-{i}"], "k": {}, "et": 0})
        await arq_pool.psetex(f"arq:job:old-{i}", 60_000, raw)
        await arq_pool.zadd(worker_env["QUEUE_NAME"], {f"old-{i}": 1})
    for i in range(3):
        job = Job(
            f"old-{i}",
            arq_pool,
            _queue_name=worker_env["QUEUE_NAME"],
            _deserializer=arq_pool.job_deserializer,
        )
        assert await job.result(timeout=20) == f"old-{i}"

    def counted() -> dict[str, int] | None:
        totals = json.loads(ai_worker("status", "--json", env=env).stdout)["fleet_totals"]
        return totals if totals["pickled_accepted"] == 3 else None

    totals = await asyncio.to_thread(
        wait_for_sync, counted, timeout=20, message="pickled jobs counted"
    )
    assert totals == {"pickled_accepted": 3, "pickled_refused": 0}
    human = await asyncio.to_thread(ai_worker, "status", env=env)
    assert "pickled jobs (all time): accepted=3 refused=0" in human.stdout


def test_run_command_runs_each_worker(worker_env: dict[str, str], tmp_path: Path) -> None:
    for worker, queue in (
        ("unified", "QUEUE_NAME"),
        ("long-tasks", "LONG_TASKS_QUEUE_NAME"),
        ("memory", "MEMORY_QUEUE_NAME"),
    ):
        enqueued = ai_worker(
            "enqueue",
            "ping",
            "--arg",
            f'"{worker}"',
            "--queue",
            worker_env[queue],
            "--json",
            env=worker_env,
        )
        job_id = json.loads(enqueued.stdout)["job_id"]
        result = ai_worker("run", worker, "--burst", env=worker_env)
        assert result.returncode == 0, result.stderr
        assert job_id in result.stderr  # the job's start and finish lines
        assert "deprecated" not in result.stderr


async def test_check_local_counts_only_this_hosts_workers(
    arq_pool: ArqRedis, worker_env: dict[str, str], start_worker: Callable[..., WorkerProcess]
) -> None:
    """A container healthcheck must not pass because a worker elsewhere is alive."""
    import time as clock

    elsewhere = {
        "id": "other:1:x",
        "host": "some-other-host",
        "pid": 1,
        "kind": "unified",
        "queue": "q",
        "started_at": clock.time(),
        "last_heartbeat": clock.time(),
        "jobs_done": 0,
        "jobs_failed": 0,
        "jobs_cancelled": 0,
        "jobs_running": 0,
    }
    prefix = worker_env["KEY_PREFIX"]
    await arq_pool.set(f"{prefix}worker:other:1:x", json.dumps(elsewhere), px=60_000)
    await arq_pool.zadd(f"{prefix}workers", {"other:1:x": clock.time()})
    assert (await asyncio.to_thread(ai_worker, "check", env=worker_env)).returncode == 0
    local = await asyncio.to_thread(ai_worker, "check", "--local", env=worker_env)
    assert local.returncode == 1 and "no unified worker on host" in local.stdout
    start_worker(UNIFIED)
    assert (await asyncio.to_thread(ai_worker, "check", "--local", env=worker_env)).returncode == 0
