"""Old path of the unified worker settings; the class lives in `services.unified.worker`."""

from services.unified.worker import UnifiedWorkerSettings

__all__ = ["UnifiedWorkerSettings"]
