"""Old path of the settings object: `from app.config.config import settings`.

`settings.redis_settings` is arq's `RedisSettings`, as the old docs use it:

    pool = await arq.create_pool(settings.redis_settings)
"""

from services.core.settings import Settings, get_settings

settings: Settings = get_settings()

__all__ = ["Settings", "settings"]
