"""`UnifiedWorkerSettings`: both subsystems in one arq worker on the unified queue.

arq services.unified.worker.UnifiedWorkerSettings
python -m arq app.workers.unified_worker.UnifiedWorkerSettings   # old path, same class
"""

from __future__ import annotations

from services.core.composition import build_worker_settings
from services.core.settings import load_settings_or_exit
from services.long_tasks.blueprint import blueprint as long_tasks_blueprint
from services.memory.blueprint import blueprint as memory_blueprint
from services.unified.bridge import bridge_blueprint

settings = load_settings_or_exit()

UnifiedWorkerSettings = build_worker_settings(
    "UnifiedWorkerSettings",
    [long_tasks_blueprint, memory_blueprint, bridge_blueprint],
    settings=settings,
    queue_name=settings.queue_name,
    kind="unified",
    module=__name__,
)
