"""Deprecated path of the legacy long_tasks worker (what old deployments run).

The class is `services.unified.legacy.LongTasksWorkerSettings`: the long_tasks subsystem alone on its legacy
queue, plus forwarders that hand the other subsystem's jobs on instead of failing them.
Move to the unified worker: `app.workers.unified_worker.UnifiedWorkerSettings`.
"""

import warnings

from services.unified.legacy import LongTasksWorkerSettings as WorkerSettings

warnings.warn(
    "app.long_tasks.worker.WorkerSettings is deprecated: run the unified worker "
    "(app.workers.unified_worker.UnifiedWorkerSettings), or services.long_tasks.worker.WorkerSettings",
    FutureWarning,  # shown by default, unlike DeprecationWarning: operators must see it
    stacklevel=2,
)

__all__ = ["WorkerSettings"]
