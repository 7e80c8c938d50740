"""A topic's memory and the pure function that folds a batch of messages into it.

The memory stays bounded however long the topic lives: at most `MAX_KEY_POINTS` key
points of at most `MAX_POINT_CHARS` characters with at most `MAX_EVIDENCE` evidence ids
each, a summary of at most `MAX_SUMMARY_CHARS`, and at most `MAX_PARTICIPANTS` participants.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, Field

from services.memory.models import Message
from services.memory.text import similarity, truncate

MAX_KEY_POINTS = 30
MAX_POINT_CHARS = 300
MAX_EVIDENCE = 8
MAX_SUMMARY_CHARS = 1200
MAX_PARTICIPANTS = 100
#: Two key points at least this similar (character-bigram Jaccard) are the same point.
SAME_POINT_SIMILARITY = 0.7


class PointDraft(BaseModel):
    """A key point a summarizer proposes, with the ids of the messages it comes from."""

    text: str = Field(min_length=1)
    evidence: list[str] = Field(default_factory=list)


class Digest(BaseModel):
    """What a summarizer returns for one batch: a new summary and candidate key points."""

    summary: str
    key_points: list[PointDraft] = Field(default_factory=list)
    #: The backend that actually produced it (an llm digest may come from the fallback).
    source: str | None = None


class KeyPoint(BaseModel):
    text: str
    support: int = 1
    first_seen: datetime
    last_seen: datetime
    evidence: list[str] = Field(default_factory=list)


class TopicMemory(BaseModel):
    """The stored memory of one topic (the ``memory`` jsonb column)."""

    summary: str = ""
    key_points: list[KeyPoint] = Field(default_factory=list)
    participants: dict[str, int] = Field(default_factory=dict)
    first_message_at: datetime | None = None
    last_message_at: datetime | None = None
    summarizer: str | None = None


def fold(
    memory: TopicMemory, messages: Sequence[Message], digest: Digest, summarizer: str
) -> TopicMemory:
    """`memory` with `messages` folded in using `digest`; pure and deterministic.

    A point's support counts the messages that made it (its evidence). A drafted point close
    to an existing one (`SAME_POINT_SIMILARITY`) raises that point's support and extends its
    evidence; otherwise it is a new point. Budgets are then applied.
    """
    if not messages:
        return memory
    by_id = {m.id: m for m in messages}
    times = [m.timestamp for m in messages]
    points = [p.model_copy(deep=True) for p in memory.key_points]
    for draft in digest.key_points:
        text = truncate(" ".join(draft.text.split()), MAX_POINT_CHARS)
        evidence = [i for i in dict.fromkeys(draft.evidence) if i in by_id]
        seen = [by_id[i].timestamp for i in evidence] or times
        match = next((p for p in points if similarity(p.text, text) >= SAME_POINT_SIMILARITY), None)
        if match is None:
            points.append(
                KeyPoint(
                    text=text,
                    support=max(1, len(evidence)),
                    first_seen=min(seen),
                    last_seen=max(seen),
                    evidence=evidence,
                )
            )
            continue
        match.support += max(1, len([i for i in evidence if i not in match.evidence]))
        match.first_seen = min(match.first_seen, *seen)
        match.last_seen = max(match.last_seen, *seen)
        match.evidence = list(dict.fromkeys([*match.evidence, *evidence]))[-MAX_EVIDENCE:]
    points.sort(key=lambda p: (-p.support, -p.last_seen.timestamp(), p.text))
    participants = dict(memory.participants)
    for message in messages:
        participants[message.author] = participants.get(message.author, 0) + 1
    top = sorted(participants.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_PARTICIPANTS]
    return TopicMemory(
        summary=truncate(digest.summary.strip() or memory.summary, MAX_SUMMARY_CHARS),
        key_points=[
            p.model_copy(update={"evidence": p.evidence[-MAX_EVIDENCE:]})
            for p in points[:MAX_KEY_POINTS]
        ],
        participants=dict(top),
        first_message_at=min([t for t in (memory.first_message_at, *times) if t is not None]),
        last_message_at=max([t for t in (memory.last_message_at, *times) if t is not None]),
        summarizer=digest.source or summarizer,
    )
