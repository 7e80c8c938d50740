"""Extractive summarize + fold time per 10-message update (in-process, no I/O).

python -m bench.memory_fold
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta

from services.memory.models import Message
from services.memory.summarizer import ExtractiveSummarizer
from services.memory.topic_memory import TopicMemory, fold

UPDATES = 300
TEXTS = [
    "We agreed to ship the new search page on Monday. QA signs off on Friday.",
    "我们决定周一发布新的搜索页面。测试团队周五签字确认！",
    "The cache hit rate dropped to 71% after the deploy; rollback is ready.",
    "数据库迁移需要两个小时，请提前通知用户。",
    "Can someone review PR 482? It fixes the timeout in the payment flow.",
]


def main() -> None:
    summarizer = ExtractiveSummarizer()
    memory = TopicMemory()
    base = datetime(2026, 1, 1, tzinfo=UTC)
    timings = []
    for update in range(UPDATES):
        batch = [
            Message(
                id=f"m{update}-{i}",
                author=f"user{i % 4}",
                role="user",
                text=f"{TEXTS[(update + i) % len(TEXTS)]} Item {update * 10 + i}.",
                timestamp=base + timedelta(seconds=update * 10 + i),
            )
            for i in range(10)
        ]
        started = time.perf_counter()
        digest = summarizer.digest(memory.summary, batch)
        memory = fold(memory, batch, digest, summarizer.name)
        timings.append((time.perf_counter() - started) * 1000)
    print(
        f"extractive fold, 10 messages: median {statistics.median(timings):.2f} ms, "
        f"p95 {sorted(timings)[int(UPDATES * 0.95)]:.2f} ms over {UPDATES} updates "
        f"(memory: {len(memory.key_points)} key points, {len(memory.summary)} summary chars)"
    )


if __name__ == "__main__":
    main()
