"""Configuration: every environment variable the product reads, parsed once.

`get_settings()` returns the process-wide `Settings`; an invalid value raises
`ConfigError` whose message is one line naming the variable, the value and what is
expected. Worker entry points call `load_settings_or_exit()`, which turns that into a
clean non-zero exit instead of a traceback. Secrets are `SecretStr`: they never appear in
`repr(settings)`, in logs or in a configuration error.
"""

from __future__ import annotations

import functools
import sys
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

Port = Annotated[int, Field(ge=1, le=65535)]
PositiveInt = Annotated[int, Field(ge=1)]
SECRET_FIELDS = ("redis_password", "postgres_password", "llm_api_key", "redis_url", "database_url")


class ConfigError(ValueError):
    """An environment variable holds a value the product cannot use."""


class Settings(BaseSettings):
    """The product's configuration; each field is read from the upper-case variable."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    # Redis (REDIS_URL wins over the parts)
    redis_host: str = "localhost"
    redis_port: Port = 6379
    redis_password: SecretStr | None = None
    redis_db: Annotated[int, Field(ge=0, le=1023)] = 0
    redis_ssl: bool = False
    redis_url: SecretStr | None = None
    redis_conn_retries: Annotated[int, Field(ge=0)] = 5
    redis_retry_seconds: Annotated[float, Field(gt=0)] = 30.0
    key_prefix: str = Field(default="aiw:", min_length=1)

    # PostgreSQL (DATABASE_URL wins over the parts)
    postgres_host: str = "localhost"
    postgres_port: Port = 5432
    postgres_user: str = "postgres"
    postgres_password: SecretStr | None = None
    postgres_db: str = "postgres"
    database_url: SecretStr | None = None
    db_pool_size: PositiveInt = 5

    # arq worker
    queue_name: str = Field(default="arq:queue", min_length=1)
    long_tasks_queue_name: str = Field(default="arq:long_tasks", min_length=1)
    memory_queue_name: str = Field(default="arq:memory", min_length=1)
    worker_max_jobs: PositiveInt = 100
    worker_poll_delay: Annotated[float, Field(gt=0, le=60)] = 0.05
    worker_job_timeout: Annotated[float, Field(gt=0)] = 300.0
    worker_keep_result: Annotated[float, Field(ge=0)] = 3600.0
    worker_max_tries: PositiveInt = 5
    worker_timezone: str = "UTC"
    accept_pickle_jobs: bool = False
    worker_event_loop: Literal["uvloop", "asyncio"] = "uvloop"

    # long tasks
    long_task_concurrency: PositiveInt = 4
    long_task_lease_seconds: Annotated[float, Field(ge=2)] = 60.0
    long_task_shutdown_grace: Annotated[float, Field(ge=0)] = 30.0
    long_task_modules: str = ""
    long_task_retry_base_seconds: Annotated[float, Field(gt=0)] = 10.0
    long_task_retry_max_seconds: Annotated[float, Field(gt=0)] = 3600.0

    # memory
    l2_queue_trigger_threshold: PositiveInt = 10
    l2_force_update_after_minutes: PositiveInt = 60
    l2_scan_interval_minutes: Annotated[int, Field(ge=1, le=59)] = 5
    l2_queue_max_len: PositiveInt = 200
    consensus_hour: Annotated[int, Field(ge=0, le=23)] = 2
    consensus_min_support: Annotated[int, Field(ge=2)] = 2
    memory_ledger_retention_days: PositiveInt = 30
    summarizer: Literal["extractive", "llm"] = "extractive"
    llm_base_url: str = "https://api.openai.com/v1"
    llm_api_key: SecretStr | None = None
    llm_model: str = "gpt-4o-mini"
    llm_timeout_seconds: Annotated[float, Field(gt=0)] = 30.0
    llm_max_retries: Annotated[int, Field(ge=0, le=10)] = 3

    # operations
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    metrics_port: Annotated[int, Field(ge=0, le=65535)] = 0
    heartbeat_seconds: Annotated[float, Field(gt=0)] = 5.0
    bridge_legacy_queues: bool = True

    @field_validator("worker_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("an IANA timezone name such as UTC or Asia/Shanghai") from None
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parts = urlsplit(value.get_secret_value())
            if parts.scheme not in {"redis", "rediss", "unix"}:
                raise ValueError("a URL starting with redis://, rediss:// or unix://")
            if parts.scheme != "unix" and not parts.hostname:
                raise ValueError("a URL with a host, such as redis://localhost:6379/0")
            try:
                parts.port  # noqa: B018 - raises on a non-numeric port
            except ValueError:
                raise ValueError("a URL with a numeric port") from None
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parts = urlsplit(value.get_secret_value())
            if parts.scheme not in {"postgres", "postgresql", "postgresql+asyncpg"}:
                raise ValueError("a URL starting with postgresql:// (or postgresql+asyncpg://)")
            if not parts.path.strip("/"):
                raise ValueError("a URL that names the database, such as postgresql://host/db")
            try:
                parts.port  # noqa: B018 - raises on a non-numeric port
            except ValueError:
                raise ValueError("a URL with a numeric port") from None
        return value

    @model_validator(mode="after")
    def _threshold_within_cap(self) -> Settings:
        if self.l2_queue_trigger_threshold > self.l2_queue_max_len:
            raise ValueError(
                f"L2_QUEUE_TRIGGER_THRESHOLD={self.l2_queue_trigger_threshold}: expected at most "
                f"L2_QUEUE_MAX_LEN ({self.l2_queue_max_len}), or a topic could never become due"
            )
        return self

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.worker_timezone)

    @property
    def redis_settings(self) -> Any:
        """arq `RedisSettings` for these variables (kept for `app.config.config.settings`)."""
        from services.core.redis import redis_settings_from

        return redis_settings_from(self)

    @property
    def sqlalchemy_url(self) -> str:
        """The asyncpg SQLAlchemy URL (contains the password: never log it)."""
        from services.core.db import database_url_from

        return database_url_from(self)

    def secret_values(self) -> list[str]:
        """Every secret's plain value, for log redaction."""
        values: list[str] = []
        for name in SECRET_FIELDS:
            secret = getattr(self, name)
            if secret is not None and secret.get_secret_value():
                values.append(secret.get_secret_value())
        for url in (self.redis_url, self.database_url):
            if url is not None:
                password = urlsplit(url.get_secret_value()).password
                if password:
                    values.append(password)
        return values


def describe_error(error: ValidationError) -> str:
    """One line per bad variable: `NAME='value': expected ...` (secrets masked)."""
    lines = []
    for item in error.errors():
        loc = item.get("loc") or ()
        field = str(loc[0]) if loc else ""
        message = str(item.get("msg", "invalid value"))
        if not field:
            # model-level checks already name their variables
            lines.append(message.removeprefix("Value error, "))
            continue
        shown = "'***'" if field in SECRET_FIELDS else repr(item.get("input"))
        expected = message.removeprefix("Value error, ").removeprefix("Input should be ")
        lines.append(f"{field.upper()}={shown}: expected {expected}")
    return "; ".join(lines)


def load_settings(**overrides: Any) -> Settings:
    """Read the environment (plus `overrides`); raises `ConfigError` naming the bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise ConfigError(f"invalid configuration: {describe_error(error)}") from None


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return load_settings()


def load_settings_or_exit() -> Settings:
    """`get_settings()`, but a bad value prints one line to stderr and exits with status 2."""
    try:
        return get_settings()
    except ConfigError as error:
        print(f"ai-worker: {error}", file=sys.stderr)
        raise SystemExit(2) from None
