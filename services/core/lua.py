"""Lua scripts run atomically in Redis at the cost of one round trip.

`LuaScript.run` sends EVALSHA and only on the first call against a server that has not
seen the script (NOSCRIPT) loads it and retries. Unlike redis-py's `Script`, a `LuaScript`
is not bound to a client, so it can be a module-level constant used with any connection.
"""

from __future__ import annotations

import hashlib
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError


class LuaScript:
    """A script identified by its SHA1, run with EVALSHA (one round trip)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def load(self, redis: Redis) -> None:
        """Register the script on `redis` (idempotent)."""
        await redis.script_load(self.source)

    async def run(self, redis: Redis, keys: list[str], args: list[Any]) -> Any:
        try:
            return await redis.evalsha(self.sha, len(keys), *keys, *args)  # type: ignore[misc]
        except NoScriptError:
            await self.load(redis)
            return await redis.evalsha(self.sha, len(keys), *keys, *args)  # type: ignore[misc]
