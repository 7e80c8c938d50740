"""Built-in kinds for smoke tests and benchmarks; always registered.

- ``builtin.noop``: returns ``{"echo": payload}`` at once. Measures the runner's overhead.
- ``builtin.sleep``: sleeps ``seconds`` (default 1) in ``steps`` equal steps (default 10),
  saving a checkpoint and progress after each, so a restarted attempt resumes where the
  last one stopped. Returns ``{"steps": n, "resumed_from": step}``. Shows leases,
  checkpoints, cancellation and shutdown behaviour without writing any code.
"""

from __future__ import annotations

import asyncio
from typing import Any

from services.long_tasks.context import TaskContext
from services.long_tasks.registry import long_task

NOOP = "builtin.noop"
SLEEP = "builtin.sleep"


@long_task(NOOP, max_attempts=1)
async def noop(ctx: TaskContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Do nothing; echo the payload."""
    return {"echo": payload}


@long_task(SLEEP, max_attempts=3)
async def sleep(ctx: TaskContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Sleep in checkpointed steps; raises `ValueError` for a bad `seconds` or `steps`."""
    seconds = float(payload.get("seconds", 1.0))
    steps = int(payload.get("steps", 10))
    if seconds < 0 or steps < 1:
        raise ValueError(f"builtin.sleep needs seconds >= 0 and steps >= 1, got {payload!r}")
    start = int((ctx.checkpoint or {}).get("step", 0))
    for step in range(start, steps):
        await asyncio.sleep(seconds / steps)
        await ctx.save_checkpoint({"step": step + 1})
        await ctx.set_progress((step + 1) / steps, f"step {step + 1} of {steps}")
    return {"steps": steps, "resumed_from": start}
