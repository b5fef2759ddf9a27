"""build_store: the configuration decides the backend, and building it does no I/O."""

from __future__ import annotations

from app.stores.factory import build_store
from app.stores.memory import MemoryStore
from app.stores.redis import RedisStore
from bench.common import free_port


async def test_no_redis_url_gives_the_in_process_store() -> None:
    store = build_store(None)
    assert isinstance(store, MemoryStore)


async def test_redis_url_gives_a_redis_store_without_connecting() -> None:
    # Nothing listens on this port: building must still succeed, so start-up never blocks on Redis.
    store = build_store(f"redis://127.0.0.1:{free_port()}/0")
    assert isinstance(store, RedisStore)
    await store.close()
