"""A group's consensus: statements several of its topics agree on, distilled daily.

Key points of all the group's topic memories are clustered by similarity after removing
negations (English not/no/never/n't..., Chinese 不/没/没有/未/无/非...). A cluster is kept when
at least `CONSENSUS_MIN_SUPPORT` distinct topics state it with the same polarity; it is
``disputed`` when some topic states the opposite. Deterministic: same memories, same result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.clock import Clock, utc_now
from services.core.settings import Settings
from services.memory import store
from services.memory.models import check_identifier
from services.memory.text import similarity, strip_negation
from services.memory.topic_memory import TopicMemory

#: Two key points (negations removed) at least this similar make one statement.
CLUSTER_SIMILARITY = 0.6
MAX_STATEMENTS = 50


class Statement(BaseModel):
    text: str
    support: int
    topics: list[str]
    evidence: dict[str, list[str]]
    disputed: bool = False
    opposed_by: list[str] = []


class Consensus(BaseModel):
    """A stored consensus; `agreed` are the undisputed statements."""

    group_id: str
    day: date
    version: int
    topic_count: int
    statements: list[Statement]
    updated_at: datetime

    @property
    def agreed(self) -> list[Statement]:
        return [s for s in self.statements if not s.disputed]


@dataclass
class _Cluster:
    core: str
    texts: dict[bool, str] = field(default_factory=dict)
    topics: dict[bool, list[str]] = field(default_factory=lambda: {False: [], True: []})
    evidence: dict[bool, dict[str, list[str]]] = field(
        default_factory=lambda: {False: {}, True: {}}
    )


def distill(topics: Sequence[tuple[str, TopicMemory]], min_support: int) -> list[Statement]:
    """Statements supported by at least `min_support` distinct topics (pure function)."""
    clusters: list[_Cluster] = []
    for topic_id, memory in topics:
        for point in memory.key_points:
            core, negated = strip_negation(point.text)
            if not core.strip():
                continue
            cluster = next(
                (c for c in clusters if similarity(c.core, core) >= CLUSTER_SIMILARITY), None
            )
            if cluster is None:
                cluster = _Cluster(core)
                clusters.append(cluster)
            cluster.texts.setdefault(negated, point.text)
            if topic_id not in cluster.topics[negated]:
                cluster.topics[negated].append(topic_id)
            cluster.evidence[negated].setdefault(topic_id, []).extend(point.evidence)
    statements = []
    for cluster in clusters:
        stance = len(cluster.topics[True]) > len(cluster.topics[False])
        supporters = cluster.topics[stance]
        if len(supporters) < min_support:
            continue
        opposed = cluster.topics[not stance]
        statements.append(
            Statement(
                text=cluster.texts[stance],
                support=len(supporters),
                topics=sorted(supporters),
                evidence={
                    t: sorted(set(ids)) for t, ids in sorted(cluster.evidence[stance].items())
                },
                disputed=bool(opposed),
                opposed_by=sorted(opposed),
            )
        )
    statements.sort(key=lambda s: (s.disputed, -s.support, s.text))
    return statements[:MAX_STATEMENTS]


def consensus_day(settings: Settings, clock: Clock = utc_now) -> date:
    """Today in `WORKER_TIMEZONE`."""
    return clock().astimezone(settings.timezone).date()


async def distill_consensus(
    *,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    group_id: str,
    day: date | str | None = None,
    clock: Clock = utc_now,
) -> Consensus:
    """Build and store the group's consensus for `day` (default: today in WORKER_TIMEZONE).

    Idempotent per (group, day): a re-run replaces the statements and bumps the version,
    never adds a second row. Raises `InvalidMessage` for a malformed group id.
    """
    check_identifier("group_id", group_id)
    if isinstance(day, str):
        day = date.fromisoformat(day)
    day = day or consensus_day(settings, clock)
    now = clock()
    async with sessions() as session, session.begin():
        rows = await store.group_topics(session, group_id)
        memories = [(row.topic_id, TopicMemory.model_validate(row.memory)) for row in rows]
        statements = distill(memories, settings.consensus_min_support)
        version = await store.upsert_consensus(
            session,
            group_id,
            day,
            [s.model_dump(mode="json") for s in statements],
            len(memories),
            now,
        )
    return Consensus(
        group_id=group_id,
        day=day,
        version=version,
        topic_count=len(memories),
        statements=statements,
        updated_at=now,
    )
