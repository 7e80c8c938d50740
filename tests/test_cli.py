"""The `ai-worker` command line, run as a real process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def ai_worker(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    binary = str(Path(sys.executable).parent / "ai-worker")
    return subprocess.run(
        [binary, *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT
    )


def test_help_lists_commands(worker_env: dict[str, str]) -> None:
    result = ai_worker("--help", env=worker_env)
    assert result.returncode == 0
    assert "run" in result.stdout and "migrate" in result.stdout


def test_migrate_is_idempotent(worker_env: dict[str, str]) -> None:
    first = ai_worker("migrate", env=worker_env)
    second = ai_worker("migrate", env=worker_env)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert "database at" in second.stdout


def test_run_says_which_service_is_unreachable(worker_env: dict[str, str]) -> None:
    env = {**worker_env, "REDIS_PORT": "1", "REDIS_PASSWORD": "hunter2"}
    result = ai_worker("run", env=env)
    assert result.returncode == 1
    assert "Redis unreachable at redis://127.0.0.1:1/" in result.stderr
    assert "redis-server" in result.stderr
    assert "PostgreSQL" not in result.stderr
    assert "Traceback" not in result.stderr and "hunter2" not in result.stderr

    env = {**worker_env, "DATABASE_URL": "postgresql://app:hunter2@127.0.0.1:1/nowhere"}
    result = ai_worker("run", env=env)
    assert result.returncode == 1
    assert "PostgreSQL unreachable at 127.0.0.1:1/nowhere" in result.stderr
    assert "hunter2" not in result.stderr


def test_run_bad_config_exits_2(worker_env: dict[str, str]) -> None:
    result = ai_worker("run", env={**worker_env, "L2_QUEUE_MAX_LEN": "many"})
    assert result.returncode == 2
    assert "L2_QUEUE_MAX_LEN='many'" in result.stderr
    assert "Traceback" not in result.stderr
