"""Prometheus metrics: one registry of names every subsystem shares.

Metric names are public (dashboards and alerts use them). Labels are kept low-cardinality:
never a topic id, task id or job id. The HTTP endpoint is started per process on
`METRICS_PORT` by `start_metrics_server` (0 disables it).
"""

from __future__ import annotations

import logging

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import start_http_server as _start_http_server

logger = logging.getLogger("ai_worker.metrics")

JOBS = Counter(
    "aiw_jobs_total", "arq jobs finished, by function and outcome", ["function", "outcome"]
)
JOB_DURATION = Histogram(
    "aiw_job_duration_seconds",
    "arq job run time, by function",
    ["function"],
    buckets=(0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600),
)
QUEUE_DEPTH = Gauge("aiw_queue_depth", "jobs waiting in an arq queue", ["queue"])
WORKER_UP = Gauge("aiw_worker_up", "1 while this worker process runs", ["worker"])
PICKLED_JOBS = Counter(
    "aiw_pickled_jobs_total", "pickled jobs seen, by decision (accepted or refused)", ["decision"]
)
LONG_TASKS_BY_STATE = Gauge("aiw_long_tasks", "long tasks by state", ["state"])
LONG_TASK_TRANSITIONS = Counter(
    "aiw_long_task_transitions_total",
    "long-task state changes, by kind and outcome",
    ["kind", "outcome"],
)
L2_PENDING_TOPICS = Gauge("aiw_l2_pending_topics", "topics with messages waiting in L2 queues")
L2_DROPPED_MESSAGES = Counter(
    "aiw_l2_dropped_messages_total", "messages dropped because an L2 queue hit L2_QUEUE_MAX_LEN"
)
SUMMARIZER_FALLBACKS = Counter(
    "aiw_summarizer_fallbacks_total",
    "LLM summaries that fell back to extractive, by reason",
    ["reason"],
)


def start_metrics_server(port: int, registry: CollectorRegistry = REGISTRY) -> bool:
    """Serve /metrics on `port` (0: disabled). Returns whether a server was started.

    A port already in use is logged, not fatal: metrics must never stop the worker.
    """
    if port == 0:
        return False
    try:
        _start_http_server(port, registry=registry)
    except OSError as error:
        logger.error("metrics endpoint not started on port %d: %s", port, error)
        return False
    logger.info("metrics endpoint on port %d", port)
    return True
