"""Chooses the store from configuration: Redis when REDIS_URL is set, in-process otherwise."""

from __future__ import annotations

from app.stores.base import Store
from app.stores.memory import MemoryStore


def build_store(redis_url: str | None, *, prefix: str = "wxbot:") -> Store:
    """Build the store without connecting; the first command (or `ping`) reaches Redis."""
    if redis_url:
        # Imported only when used: redis-py costs ~5 MB a worker on the embedded default.
        from app.stores.redis import RedisStore

        return RedisStore.from_url(redis_url, prefix=prefix)
    return MemoryStore()
