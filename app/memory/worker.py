"""Deprecated path of the legacy memory worker: use `services.memory.worker.WorkerSettings`."""

import warnings

from services.memory.worker import WorkerSettings

warnings.warn(
    "app.memory.worker.WorkerSettings is deprecated: run the unified worker "
    "(app.workers.unified_worker.UnifiedWorkerSettings), or services.memory.worker.WorkerSettings",
    FutureWarning,  # shown by default, unlike DeprecationWarning: operators must see it
    stacklevel=2,
)

__all__ = ["WorkerSettings"]
