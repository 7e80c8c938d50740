"""The legacy standalone memory worker (queue `MEMORY_QUEUE_NAME`).

arq services.memory.worker.WorkerSettings
"""

from __future__ import annotations

from services.core.composition import build_worker_settings
from services.core.settings import load_settings_or_exit
from services.memory.blueprint import blueprint

settings = load_settings_or_exit()

WorkerSettings = build_worker_settings(
    "WorkerSettings",
    [blueprint],
    settings=settings,
    queue_name=settings.memory_queue_name,
    kind="memory",
    module=__name__,
)
