"""Configuration: defaults, parsing, and one-line errors that name the variable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from services.core.settings import ConfigError, Settings, load_settings

REPO_ROOT = Path(__file__).resolve().parents[1]
SEED_DEFAULTS = {
    "REDIS_HOST": "localhost",
    "REDIS_PORT": 6379,
    "REDIS_DB": 0,
    "REDIS_SSL": False,
    "POSTGRES_HOST": "localhost",
    "POSTGRES_PORT": 5432,
    "L2_QUEUE_TRIGGER_THRESHOLD": 10,
    "L2_FORCE_UPDATE_AFTER_MINUTES": 60,
    "L2_SCAN_INTERVAL_MINUTES": 5,
    "L2_QUEUE_MAX_LEN": 200,
    "CONSENSUS_HOUR": 2,
    "WORKER_TIMEZONE": "UTC",
    "QUEUE_NAME": "arq:queue",
    "LONG_TASKS_QUEUE_NAME": "arq:long_tasks",
    "MEMORY_QUEUE_NAME": "arq:memory",
    "ACCEPT_PICKLE_JOBS": False,
    "LOG_FORMAT": "text",
    "SUMMARIZER": "extractive",
}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


@pytest.mark.parametrize(("variable", "default"), sorted(SEED_DEFAULTS.items()))
def test_defaults(clean_env: pytest.MonkeyPatch, variable: str, default: object) -> None:
    assert getattr(load_settings(), variable.lower()) == default


def test_secrets_default_to_none(clean_env: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert settings.redis_password is None
    assert settings.postgres_password is None
    assert settings.llm_api_key is None


@pytest.mark.parametrize(
    ("variable", "raw", "parsed"),
    [
        ("REDIS_PORT", "6380", 6380),
        ("REDIS_DB", "3", 3),
        ("REDIS_SSL", "true", True),
        ("ACCEPT_PICKLE_JOBS", "1", True),
        ("L2_QUEUE_TRIGGER_THRESHOLD", "25", 25),
        ("L2_FORCE_UPDATE_AFTER_MINUTES", "15", 15),
        ("L2_SCAN_INTERVAL_MINUTES", "2", 2),
        ("L2_QUEUE_MAX_LEN", "500", 500),
        ("WORKER_TIMEZONE", "Asia/Shanghai", "Asia/Shanghai"),
        ("LOG_FORMAT", "json", "json"),
        ("CONSENSUS_HOUR", "23", 23),
    ],
)
def test_parsing(clean_env: pytest.MonkeyPatch, variable: str, raw: str, parsed: object) -> None:
    clean_env.setenv(variable, raw)
    assert getattr(load_settings(), variable.lower()) == parsed


def test_redis_url_wins_over_parts(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("REDIS_HOST", "ignored")
    clean_env.setenv("REDIS_URL", "rediss://user:pw@cache.example:6390/4")
    rs = load_settings().redis_settings
    assert (rs.host, rs.port, rs.database, rs.ssl, rs.password) == (
        "cache.example",
        6390,
        4,
        True,
        "pw",
    )


def test_redis_parts_and_unix_socket(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("REDIS_HOST", "redis.internal")
    clean_env.setenv("REDIS_PASSWORD", "pw")
    clean_env.setenv("REDIS_DB", "2")
    rs = load_settings().redis_settings
    assert (rs.host, rs.port, rs.database, rs.password) == ("redis.internal", 6379, 2, "pw")
    assert rs.retry is not None and rs.retry_on_timeout
    clean_env.setenv("REDIS_URL", "unix:///run/redis.sock")
    assert load_settings().redis_settings.unix_socket_path == "/run/redis.sock"


def test_database_url_wins_and_is_normalised(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("POSTGRES_HOST", "ignored")
    clean_env.setenv("DATABASE_URL", "postgres://app:pw@db:5433/chat")
    assert load_settings().sqlalchemy_url == "postgresql+asyncpg://app:pw@db:5433/chat"


def test_postgres_parts(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("POSTGRES_HOST", "db")
    clean_env.setenv("POSTGRES_USER", "app")
    clean_env.setenv("POSTGRES_PASSWORD", "p@ss/word")
    clean_env.setenv("POSTGRES_DB", "chat")
    assert load_settings().sqlalchemy_url == "postgresql+asyncpg://app:p%40ss%2Fword@db:5432/chat"


def test_secrets_never_in_repr(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("REDIS_PASSWORD", "redis-secret-1")
    clean_env.setenv("POSTGRES_PASSWORD", "pg-secret-2")
    clean_env.setenv("LLM_API_KEY", "sk-secret-3")
    text = repr(load_settings()) + str(load_settings())
    for secret in ("redis-secret-1", "pg-secret-2", "sk-secret-3"):
        assert secret not in text


BAD_VALUES = [
    ("REDIS_PORT", "abc", "integer"),
    ("REDIS_PORT", "70000", "less than or equal to 65535"),
    ("L2_QUEUE_TRIGGER_THRESHOLD", "0", "greater than or equal to 1"),
    ("L2_QUEUE_MAX_LEN", "ten", "integer"),
    ("L2_SCAN_INTERVAL_MINUTES", "-5", "greater than or equal to 1"),
    ("WORKER_TIMEZONE", "Mars/Olympus", "IANA timezone"),
    ("REDIS_URL", "http://host:1", "redis://"),
    ("REDIS_URL", "redis://host:notaport", "numeric port"),
    ("DATABASE_URL", "mysql://db/x", "postgresql://"),
    ("LOG_FORMAT", "xml", "'text' or 'json'"),
]


@pytest.mark.parametrize(("variable", "value", "expected"), BAD_VALUES)
def test_bad_value_names_variable(
    clean_env: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    clean_env.setenv(variable, value)
    with pytest.raises(ConfigError) as error:
        load_settings()
    message = str(error.value)
    assert variable in message and expected in message
    assert "\n" not in message


def test_threshold_above_max_len(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("L2_QUEUE_TRIGGER_THRESHOLD", "300")
    with pytest.raises(ConfigError, match=r"L2_QUEUE_TRIGGER_THRESHOLD=300.*L2_QUEUE_MAX_LEN"):
        load_settings()


@pytest.mark.parametrize(("variable", "value", "expected"), BAD_VALUES[:7])
def test_bad_value_stops_real_worker(
    worker_env: dict[str, str], variable: str, value: str, expected: str
) -> None:
    """A real `arq app.workers...` process exits non-zero with one clean line, no password."""
    env = {
        **worker_env,
        variable: value,
        "REDIS_PASSWORD": "hunter2-redis",
        "POSTGRES_PASSWORD": "hunter2-pg",
    }
    arq = str(Path(sys.executable).parent / "arq")
    result = subprocess.run(
        [arq, "app.workers.unified_worker.UnifiedWorkerSettings"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert variable in output and expected in output
    assert "Traceback" not in output
    assert len(output.strip().splitlines()) == 1
    assert "hunter2" not in output


def test_bad_url_error_masks_secret(worker_env: dict[str, str]) -> None:
    env = {**worker_env, "REDIS_URL": "http://admin:hunter2@cache:6379/0"}
    result = subprocess.run(
        [sys.executable, "-m", "arq", "app.workers.unified_worker.UnifiedWorkerSettings"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 2
    assert "REDIS_URL='***'" in result.stderr
    assert "hunter2" not in result.stdout + result.stderr
