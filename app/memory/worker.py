"""Deprecated path of the legacy memory worker (what old deployments run).

The class is `services.unified.legacy.MemoryWorkerSettings`: the memory subsystem alone on its legacy
queue, plus forwarders that hand the other subsystem's jobs on instead of failing them.
Move to the unified worker: `app.workers.unified_worker.UnifiedWorkerSettings`.
"""

import warnings

from services.unified.legacy import MemoryWorkerSettings as WorkerSettings

warnings.warn(
    "app.memory.worker.WorkerSettings is deprecated: run the unified worker "
    "(app.workers.unified_worker.UnifiedWorkerSettings), or services.memory.worker.WorkerSettings",
    FutureWarning,  # shown by default, unlike DeprecationWarning: operators must see it
    stacklevel=2,
)

__all__ = ["WorkerSettings"]
