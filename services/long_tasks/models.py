"""The `long_tasks` table (SQLAlchemy Core) and the snapshot type the API returns.

The schema itself is owned by the alembic revision `0002_long_tasks`; this mirror only
describes it for queries. A task's life:

    pending --claim--> running --success--> succeeded   (or pending again: recurring)
                          |----failure----> pending (retry later) / failed (attempts used up)
                          |----cancel-----> cancelled
                          |----SIGTERM----> pending (attempt not counted)
                          '--lease expiry-> pending (attempt counted) / failed
    pending --cancel--> cancelled
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

PENDING: Final = "pending"
RUNNING: Final = "running"
SUCCEEDED: Final = "succeeded"
FAILED: Final = "failed"
CANCELLED: Final = "cancelled"
STATES: Final = (PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED)
TERMINAL_STATES: Final = (SUCCEEDED, FAILED, CANCELLED)

#: NOTIFY channel: "wake" (due work may exist) or "cancel:<id>" (a running task was cancelled).
NOTIFY_CHANNEL: Final = "aiw_long_tasks"

metadata = sa.MetaData()

tasks = sa.Table(
    "long_tasks",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("payload", JSONB, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("run_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("schedule", sa.Text),
    sa.Column("schedule_timezone", sa.Text),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("max_attempts", sa.Integer, nullable=False),
    sa.Column("lease_owner", sa.Text),
    sa.Column("lease_expires_at", sa.DateTime(timezone=True)),
    sa.Column("lease_attempt", sa.Integer, nullable=False),
    sa.Column("heartbeat_at", sa.DateTime(timezone=True)),
    sa.Column("progress", sa.Float),
    sa.Column("progress_message", sa.Text),
    sa.Column("checkpoint", JSONB(none_as_null=True)),
    sa.Column("result", JSONB(none_as_null=True)),
    sa.Column("last_error", sa.Text),
    sa.Column("cancel_requested", sa.Boolean, nullable=False),
    sa.Column("idempotency_key", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True)),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class Task:
    """A read-only snapshot of one task row, as `get_task` and `list_tasks` return it."""

    id: int
    kind: str
    payload: dict[str, Any]
    status: str
    priority: int
    run_at: datetime
    schedule: str | None
    schedule_timezone: str | None
    attempts: int
    max_attempts: int
    lease_owner: str | None
    lease_expires_at: datetime | None
    lease_attempt: int
    heartbeat_at: datetime | None
    progress: float | None
    progress_message: str | None
    checkpoint: Any
    result: Any
    last_error: str | None
    cancel_requested: bool
    idempotency_key: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Task:
        return cls(**dict(row._mapping))

    @property
    def done(self) -> bool:
        """True once the task is succeeded, failed or cancelled (a recurring task never is)."""
        return self.status in TERMINAL_STATES
