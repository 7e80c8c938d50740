"""What `ai-worker status` shows of the long-task subsystem."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.long_tasks import store
from services.long_tasks.models import PENDING, RUNNING, STATES, tasks


async def long_task_status(session: AsyncSession) -> dict[str, Any]:
    """Tasks by state, the oldest due pending task, and running tasks whose lease expired."""
    counts = await store.counts_by_state(session)
    oldest = (
        await session.execute(
            sa.select(tasks.c.id, tasks.c.kind, tasks.c.run_at)
            .where(tasks.c.status == PENDING, tasks.c.run_at <= sa.func.now())
            .order_by(tasks.c.run_at, tasks.c.id)
            .limit(1)
        )
    ).first()
    expired = (
        await session.execute(
            sa.select(tasks.c.id, tasks.c.kind, tasks.c.lease_owner, tasks.c.lease_expires_at)
            .where(tasks.c.status == RUNNING, tasks.c.lease_expires_at < sa.func.now())
            .order_by(tasks.c.lease_expires_at)
            .limit(20)
        )
    ).all()
    return {
        "by_state": {state: counts.get(state, 0) for state in STATES},
        "oldest_due_pending": dict(oldest._mapping) if oldest else None,
        "expired_leases": [dict(row._mapping) for row in expired],
    }
