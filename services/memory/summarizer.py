"""The summarizer protocol and the default `extractive` backend.

A summarizer turns the previous summary and a batch of messages into a `Digest` (new
summary, candidate key points with evidence ids). `topic_memory.fold` merges it into the
stored memory. `build_summarizer(settings)` picks the backend named by `SUMMARIZER`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from services.core.settings import Settings
from services.memory.models import Message
from services.memory.text import is_cjk, shingles, similarity, split_sentences, tokens, truncate
from services.memory.topic_memory import SAME_POINT_SIMILARITY, Digest, PointDraft

#: Key points proposed per batch, and the extractive summary's size budget.
POINTS_PER_BATCH = 5
SUMMARY_SENTENCES = 4
SUMMARY_CHARS = 600
#: Sentences with fewer distinct character bigrams than this carry no point ("ok!", "嗯嗯").
MIN_SHINGLES = 4


class Summarizer(Protocol):
    """Turns a batch of messages into a digest. Must not lose or invent message ids."""

    name: str

    async def summarize(self, previous_summary: str, messages: Sequence[Message]) -> Digest: ...

    async def aclose(self) -> None: ...


@dataclass
class _Cluster:
    text: str
    index: int
    evidence: list[str] = field(default_factory=list)


def _cluster(sentences: Sequence[tuple[str, str]]) -> list[_Cluster]:
    """Group near-identical sentences (first occurrence is the representative)."""
    clusters: list[_Cluster] = []
    for index, (text, message_id) in enumerate(sentences):
        match = next(
            (c for c in clusters if similarity(c.text, text) >= SAME_POINT_SIMILARITY), None
        )
        if match is None:
            clusters.append(_Cluster(text, index, [message_id]))
        elif message_id not in match.evidence:
            match.evidence.append(message_id)
    return clusters


def _rank(clusters: list[_Cluster], extra_text: str = "") -> list[_Cluster]:
    """Most central first: repeated sentences and sentences sharing frequent terms win."""
    frequency = Counter(t for c in clusters for t in set(tokens(c.text)) for _ in c.evidence)
    frequency.update(set(tokens(extra_text)))

    def score(c: _Cluster) -> tuple[float, int]:
        terms = set(tokens(c.text))
        centrality = sum(frequency[t] for t in terms) / (len(terms) ** 0.5) if terms else 0.0
        return (-(len(c.evidence) * 2.0 + centrality), c.index)

    return sorted(clusters, key=score)


def _join(sentences: Sequence[str]) -> str:
    return "".join(sentences) if all(is_cjk(s) for s in sentences) else " ".join(sentences)


class ExtractiveSummarizer:
    """Deterministic, offline: picks the most central sentences of the batch.

    Sentence splitting knows Chinese (。！？；) and English (.!?;) punctuation; near-identical
    sentences are merged into one point whose evidence lists every message saying it.
    """

    name = "extractive"

    async def summarize(self, previous_summary: str, messages: Sequence[Message]) -> Digest:
        return self.digest(previous_summary, messages)

    def digest(self, previous_summary: str, messages: Sequence[Message]) -> Digest:
        sentences = [
            (sentence, m.id)
            for m in messages
            for sentence in split_sentences(m.text)
            if len(shingles(sentence)) >= MIN_SHINGLES
        ]
        ranked = _rank(_cluster(sentences), previous_summary)
        points = [PointDraft(text=c.text, evidence=c.evidence) for c in ranked[:POINTS_PER_BATCH]]
        chosen: list[str] = []
        for text in [c.text for c in ranked] + split_sentences(previous_summary):
            if len(chosen) >= SUMMARY_SENTENCES:
                break
            if all(similarity(text, other) < SAME_POINT_SIMILARITY for other in chosen):
                chosen.append(text)
        return Digest(
            summary=truncate(_join(chosen), SUMMARY_CHARS), key_points=points, source=self.name
        )

    async def aclose(self) -> None:
        return None


def build_summarizer(settings: Settings) -> Summarizer:
    """The backend `SUMMARIZER` names (`extractive` or `llm`)."""
    if settings.summarizer == "llm":
        from services.memory.llm import LLMSummarizer

        return LLMSummarizer(settings)
    return ExtractiveSummarizer()
