"""Test-only: run arq's cron clock fast in real worker processes.

Put this directory on PYTHONPATH and set AIW_WARP="<anchor> <origin> <factor>": from real
epoch second `anchor` on, arq's cron clock reads `origin + (now - anchor) * factor`. Every
process given the same three numbers sees the same warped time, so cron job ids (which
arq derives from the scheduled time) agree across workers exactly as in production.
Keep the warped time behind real time (origin well in the past) so arq never defers a
cron job into the real future. Only the cron clock is warped: queue scores, leases and
timeouts keep real time.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, tzinfo

_warp = os.environ.get("AIW_WARP")
if _warp:
    import arq.worker

    _anchor, _origin, _factor = (float(part) for part in _warp.split())

    class WarpedDatetime(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> WarpedDatetime:  # type: ignore[override]
            warped = _origin + (time.time() - _anchor) * _factor
            return cls.fromtimestamp(warped, tz)

    arq.worker.datetime = WarpedDatetime  # type: ignore[misc]
