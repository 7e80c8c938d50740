"""Memory: topic memories, their folded-message ledger, and group consensus.

Revision ID: 0003_memory
Revises: 0002_long_tasks
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_memory"
down_revision: str | None = "0002_long_tasks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    now = sa.text("now()")
    op.create_table(
        "topic_memories",
        sa.Column("topic_id", sa.Text, primary_key=True),
        sa.Column("group_id", sa.Text, nullable=False),
        sa.Column("watermark", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("version", sa.Integer, nullable=False, server_default="0"),
        sa.Column("message_count", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column(
            "memory", postgresql.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
    )
    op.create_index("ix_topic_memories_group_updated", "topic_memories", ["group_id", "updated_at"])
    op.create_table(
        "topic_memory_messages",
        sa.Column("topic_id", sa.Text, primary_key=True),
        sa.Column("message_id", sa.Text, primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("folded_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
    )
    op.create_table(
        "group_consensus",
        sa.Column("group_id", sa.Text, primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("statements", postgresql.JSONB, nullable=False),
        sa.Column("topic_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
    )


def downgrade() -> None:
    op.drop_table("group_consensus")
    op.drop_table("topic_memory_messages")
    op.drop_index("ix_topic_memories_group_updated", table_name="topic_memories")
    op.drop_table("topic_memories")
