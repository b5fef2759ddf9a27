"""RedisStore against a private Redis that hangs or stops: after a failure it fails fast, then probes.

The service-level consequence (every reply inside the deadline while Redis is hung) is in
test_redis_outage.py; these pin the breaker's own rules with a short cooldown.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from app.stores.base import StoreUnavailable
from app.stores.redis import RedisStore
from tests.faults.servers import PausableRedis

pytestmark = pytest.mark.redis

COOLDOWN_S = 0.3
OP_TIMEOUT_S = 1.0


@pytest.fixture
async def store(redis_server: PausableRedis) -> AsyncIterator[RedisStore]:
    redis_store = RedisStore.from_url(redis_server.url, cooldown_s=COOLDOWN_S, op_timeout=OP_TIMEOUT_S)
    await redis_store.set("k", b"v", ttl=30)
    yield redis_store
    await redis_store.close()


async def timed_failure(store: RedisStore) -> float:
    started = time.perf_counter()
    with pytest.raises(StoreUnavailable):
        await store.get("k")
    return time.perf_counter() - started


async def test_after_a_timeout_calls_fail_without_waiting(store: RedisStore, redis_server: PausableRedis) -> None:
    redis_server.pause()
    first = await timed_failure(store)
    following = [await timed_failure(store) for _ in range(5)]
    assert first >= OP_TIMEOUT_S * 0.9
    assert max(following) < 0.05


async def test_one_probe_at_a_time_once_the_cooldown_is_over(store: RedisStore, redis_server: PausableRedis) -> None:
    redis_server.pause()
    await timed_failure(store)
    await asyncio.sleep(COOLDOWN_S)
    durations = await asyncio.gather(*(timed_failure(store) for _ in range(6)))
    slow = [d for d in durations if d >= OP_TIMEOUT_S * 0.9]
    assert len(slow) == 1, durations


async def test_redis_back_is_used_after_the_cooldown(store: RedisStore, redis_server: PausableRedis) -> None:
    redis_server.stop()
    await timed_failure(store)
    redis_server.start()
    await timed_failure(store)  # still inside the cooldown: not even tried
    await asyncio.sleep(COOLDOWN_S)
    assert await store.set_if_absent("k", b"v", ttl=30) is True  # the restart lost the data
    assert await store.get("k") == b"v"


async def test_ping_asks_redis_even_while_failing_fast(store: RedisStore, redis_server: PausableRedis) -> None:
    redis_server.stop()
    await timed_failure(store)
    assert await store.ping() is False
    redis_server.start()
    assert await store.ping() is True
    assert await store.get("k") is None  # a successful ping closes the breaker at once


async def test_an_unlock_that_failed_is_retried_when_redis_answers_again(
    redis_server: PausableRedis,
) -> None:
    store = RedisStore.from_url(redis_server.url, cooldown_s=COOLDOWN_S, op_timeout=0.3)
    try:
        lock = store.lock("user:o1", ttl=20, wait=0.5)
        await lock.__aenter__()
        redis_server.pause()
        try:
            await lock.__aexit__(None, None, None)  # the release times out: not raised
        finally:
            redis_server.resume()
        await asyncio.sleep(COOLDOWN_S * 2)  # the breaker's cooldown: Redis is tried again
        started = time.perf_counter()
        async with store.lock("user:o1", ttl=5, wait=3):
            waited = time.perf_counter() - started
        assert waited < 3, "the lock stayed held until its lease ran out"
    finally:
        await store.close()
