"""Memory: topic memories and group consensus (filled in by the memory subsystem).

Revision ID: 0003_memory
Revises: 0002_long_tasks
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0003_memory"
down_revision: str | None = "0002_long_tasks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
