"""The legacy standalone long_tasks worker (queue `LONG_TASKS_QUEUE_NAME`).

arq services.long_tasks.worker.WorkerSettings
"""

from __future__ import annotations

from services.core.composition import build_worker_settings
from services.core.settings import load_settings_or_exit
from services.long_tasks.blueprint import blueprint

settings = load_settings_or_exit()

WorkerSettings = build_worker_settings(
    "WorkerSettings",
    [blueprint],
    settings=settings,
    queue_name=settings.long_tasks_queue_name,
    kind="long_tasks",
    module=__name__,
)
