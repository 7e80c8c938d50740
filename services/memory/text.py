"""Language-neutral text helpers (Chinese and English): sentences, tokens, similarity, negation.

Deterministic and offline; used by the extractive summarizer and by consensus.
"""

from __future__ import annotations

import re
import unicodedata

# A sentence ends after 。！？!?；; (always) or after "." followed by space or the end, so
# "3.5" and "e.g.x" stay whole; newlines also end a sentence.
_SENTENCE_END = re.compile(r"(?<=[。！？!?；;…])|(?<=\.)(?=\s|$)|\n+")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")

_EN_NEGATIONS = {"not", "no", "never", "none", "cannot", "nobody", "nothing", "neither", "nor"}
_EN_NEGATION_SUFFIX = "n't"
# Longest first, so 没有 is removed as one negation, not as 没 plus 有.
_ZH_NEGATIONS = ("没有", "并非", "不是", "不", "没", "別", "别", "未", "无", "非")
_EN_STOPWORDS = {
    "the", "a", "an", "and", "or", "of", "to", "in", "on", "is", "are", "was", "were", "be",
    "it", "this", "that", "we", "i", "you", "for", "with", "as", "at", "by", "should", "will",
}  # fmt: skip


def normalize(text: str) -> str:
    """NFKC, lower case, single spaces: full-width and half-width forms compare equal."""
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


def split_sentences(text: str) -> list[str]:
    """Sentences of `text`, stripped, empty ones dropped; knows 。！？ as well as .!?"""
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def tokens(text: str) -> list[str]:
    """English words (stop words removed) and Chinese character bigrams (unigrams if alone)."""
    norm = normalize(text)
    words = [w for w in _WORD.findall(norm) if w not in _EN_STOPWORDS]
    result = list(words)
    for run in re.findall(r"[\u3400-\u9fff\uf900-\ufaff]+", norm):
        if len(run) == 1:
            result.append(run)
        result.extend(run[i : i + 2] for i in range(len(run) - 1))
    return result


def shingles(text: str) -> set[str]:
    """Character bigrams of the normalized text without spaces and punctuation."""
    compact = "".join(ch for ch in normalize(text) if ch.isalnum())
    if len(compact) < 2:
        return {compact} if compact else set()
    return {compact[i : i + 2] for i in range(len(compact) - 1)}


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of character bigrams, 0..1 (1: same text up to case/punctuation)."""
    sa, sb = shingles(a), shingles(b)
    if not sa or not sb:
        return 0.0
    return len(sa & sb) / len(sa | sb)


def strip_negation(text: str) -> tuple[str, bool]:
    """(text without negation words, whether it was negated an odd number of times)."""
    norm = normalize(text)
    negations = 0
    kept: list[str] = []
    for word in norm.split(" "):
        bare = word.strip(".,!?;:\"'()")
        if bare in _EN_NEGATIONS:
            negations += 1
            continue
        if bare.endswith(_EN_NEGATION_SUFFIX):
            negations += 1
            word = bare[: -len(_EN_NEGATION_SUFFIX)]
            word = {"ca": "can", "wo": "will", "sha": "shall"}.get(word, word)
        kept.append(word)
    stripped = " ".join(kept)
    if _CJK.search(stripped):
        for negation in _ZH_NEGATIONS:
            negations += stripped.count(negation)
            stripped = stripped.replace(negation, "")
    return stripped, negations % 2 == 1


def is_cjk(text: str) -> bool:
    return _CJK.search(text) is not None


def truncate(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters (with an ellipsis when cut)."""
    return text if len(text) <= limit else text[: max(0, limit - 1)].rstrip() + "…"
