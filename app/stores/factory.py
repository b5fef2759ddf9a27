"""Chooses the store from configuration: Redis when REDIS_URL is set, in-process otherwise."""

from __future__ import annotations

from app.stores.base import Store
from app.stores.memory import MemoryStore
from app.stores.redis import RedisStore


def build_store(redis_url: str | None, *, prefix: str = "wxbot:") -> Store:
    """Build the store without connecting; the first command (or `ping`) reaches Redis."""
    if redis_url:
        return RedisStore.from_url(redis_url, prefix=prefix)
    return MemoryStore()
