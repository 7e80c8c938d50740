"""PostgreSQL tables of the memory subsystem (created by migration 0003_memory)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

metadata = sa.MetaData()

topic_memories = sa.Table(
    "topic_memories",
    metadata,
    sa.Column("topic_id", sa.Text, primary_key=True),
    sa.Column("group_id", sa.Text, nullable=False),
    sa.Column("watermark", sa.BigInteger, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("message_count", sa.BigInteger, nullable=False),
    sa.Column("memory", postgresql.JSONB, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

#: One row per folded message: the exactly-once ledger (primary key topic_id, message_id).
topic_memory_messages = sa.Table(
    "topic_memory_messages",
    metadata,
    sa.Column("topic_id", sa.Text, primary_key=True),
    sa.Column("message_id", sa.Text, primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("folded_at", sa.DateTime(timezone=True), nullable=False),
)

group_consensus = sa.Table(
    "group_consensus",
    metadata,
    sa.Column("group_id", sa.Text, primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("statements", postgresql.JSONB, nullable=False),
    sa.Column("topic_count", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)


async def ensure_topic(session: AsyncSession, topic_id: str, group_id: str, now: datetime) -> None:
    """Insert an empty memory row for the topic unless it exists (idempotent)."""
    await session.execute(
        postgresql.insert(topic_memories)
        .values(
            topic_id=topic_id,
            group_id=group_id,
            watermark=0,
            version=0,
            message_count=0,
            memory={},
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["topic_id"])
    )


async def lock_topic(session: AsyncSession, topic_id: str) -> sa.Row[Any] | None:
    """The topic's row, locked FOR UPDATE until the transaction ends.

    None when the row does not exist *or* another transaction holds it (SKIP LOCKED):
    callers distinguish with `topic_exists`.
    """
    result = await session.execute(
        sa.select(topic_memories)
        .where(topic_memories.c.topic_id == topic_id)
        .with_for_update(skip_locked=True)
    )
    return result.first()


async def get_topic(session: AsyncSession, topic_id: str) -> sa.Row[Any] | None:
    result = await session.execute(
        sa.select(topic_memories).where(topic_memories.c.topic_id == topic_id)
    )
    return result.first()


async def record_folded(
    session: AsyncSession,
    topic_id: str,
    rows: Sequence[tuple[str, int]],
    version: int,
    now: datetime,
) -> set[str]:
    """Record (message id, seq) pairs as folded; returns the ids not folded before."""
    if not rows:
        return set()
    result = await session.execute(
        postgresql.insert(topic_memory_messages)
        .values(
            [
                {
                    "topic_id": topic_id,
                    "message_id": mid,
                    "seq": seq,
                    "version": version,
                    "folded_at": now,
                }
                for mid, seq in rows
            ]
        )
        .on_conflict_do_nothing(index_elements=["topic_id", "message_id"])
        .returning(topic_memory_messages.c.message_id)
    )
    return {row[0] for row in result}


async def save_topic(
    session: AsyncSession,
    topic_id: str,
    *,
    watermark: int,
    version: int,
    added: int,
    memory: dict[str, Any],
    now: datetime,
) -> None:
    await session.execute(
        sa.update(topic_memories)
        .where(topic_memories.c.topic_id == topic_id)
        .values(
            watermark=watermark,
            version=version,
            message_count=topic_memories.c.message_count + added,
            memory=memory,
            updated_at=now,
        )
    )


async def group_topics(session: AsyncSession, group_id: str) -> list[sa.Row[Any, Any]]:
    result = await session.execute(
        sa.select(topic_memories.c.topic_id, topic_memories.c.memory)
        .where(topic_memories.c.group_id == group_id, topic_memories.c.version > 0)
        .order_by(topic_memories.c.topic_id)
    )
    return list(result.all())


async def groups_changed_since_consensus(session: AsyncSession) -> list[str]:
    """Groups whose topic memories changed after their latest stored consensus (or never had one)."""
    last = (
        sa.select(group_consensus.c.group_id, sa.func.max(group_consensus.c.updated_at).label("at"))
        .group_by(group_consensus.c.group_id)
        .subquery()
    )
    query = (
        sa.select(topic_memories.c.group_id)
        .outerjoin(last, last.c.group_id == topic_memories.c.group_id)
        .where(topic_memories.c.version > 0)
        .group_by(topic_memories.c.group_id, last.c.at)
        .having(sa.or_(last.c.at.is_(None), sa.func.max(topic_memories.c.updated_at) > last.c.at))
        .order_by(topic_memories.c.group_id)
    )
    return [row[0] for row in await session.execute(query)]


async def upsert_consensus(
    session: AsyncSession,
    group_id: str,
    day: date,
    statements: list[dict[str, Any]],
    topic_count: int,
    now: datetime,
) -> int:
    """Store the group's consensus for `day`, replacing a previous one; returns its version."""
    insert = postgresql.insert(group_consensus).values(
        group_id=group_id,
        day=day,
        version=1,
        statements=statements,
        topic_count=topic_count,
        created_at=now,
        updated_at=now,
    )
    result = await session.execute(
        insert.on_conflict_do_update(
            index_elements=["group_id", "day"],
            set_={
                "version": group_consensus.c.version + 1,
                "statements": insert.excluded.statements,
                "topic_count": insert.excluded.topic_count,
                "updated_at": insert.excluded.updated_at,
            },
        ).returning(group_consensus.c.version)
    )
    return int(result.scalar_one())


async def get_consensus_row(
    session: AsyncSession, group_id: str, day: date | None
) -> sa.Row[Any] | None:
    query = sa.select(group_consensus).where(group_consensus.c.group_id == group_id)
    query = (
        query.where(group_consensus.c.day == day)
        if day
        else query.order_by(group_consensus.c.day.desc())
    )
    return (await session.execute(query.limit(1))).first()


async def latest_consensus_per_group(
    session: AsyncSession, limit: int = 50
) -> list[dict[str, Any]]:
    """The newest stored consensus of each group (day, version, statements, when)."""
    query = (
        sa.select(
            group_consensus.c.group_id,
            group_consensus.c.day,
            group_consensus.c.version,
            sa.func.jsonb_array_length(group_consensus.c.statements).label("statements"),
            group_consensus.c.updated_at,
        )
        .distinct(group_consensus.c.group_id)
        .order_by(group_consensus.c.group_id, group_consensus.c.day.desc())
        .limit(limit)
    )
    return [dict(row._mapping) for row in await session.execute(query)]


async def prune_ledger(session: AsyncSession, older_than: datetime) -> int:
    """Forget folded-message ids folded before `older_than`; returns how many.

    The watermark alone guarantees a replay never folds a message twice; the ledger only
    catches the same message id pushed again *after* it was folded. Keeping it bounded
    means such a re-push older than the retention is folded as a new message.
    """
    result = await session.execute(
        sa.delete(topic_memory_messages)
        .where(topic_memory_messages.c.folded_at < older_than)
        .returning(topic_memory_messages.c.message_id)
    )
    return len(result.all())
