"""Deprecated path of the legacy long_tasks worker: use `services.long_tasks.worker.WorkerSettings`."""

import warnings

from services.long_tasks.worker import WorkerSettings

warnings.warn(
    "app.long_tasks.worker.WorkerSettings is deprecated: run the unified worker "
    "(app.workers.unified_worker.UnifiedWorkerSettings), or services.long_tasks.worker.WorkerSettings",
    FutureWarning,  # shown by default, unlike DeprecationWarning: operators must see it
    stacklevel=2,
)

__all__ = ["WorkerSettings"]
