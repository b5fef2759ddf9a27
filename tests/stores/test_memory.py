"""In-process store only: fair lock queueing, and memory that stays bounded."""

from __future__ import annotations

import asyncio
import time

import pytest

from app.stores.base import LockTimeout
from app.stores.memory import MemoryStore


async def test_lock_waiters_acquire_in_arrival_order() -> None:
    store = MemoryStore()
    order: list[int] = []

    async def waiter(index: int) -> None:
        async with store.lock("user", ttl=5, wait=5):
            order.append(index)

    async with store.lock("user", ttl=5, wait=1):
        tasks = []
        for index in range(5):
            tasks.append(asyncio.create_task(waiter(index)))
            await asyncio.sleep(0)  # let it join the queue before the next one arrives
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4]


async def test_next_waiter_takes_an_expired_lease_after_the_head_gives_up() -> None:
    store = MemoryStore()
    release_stuck = asyncio.Event()
    stuck_holds = asyncio.Event()

    async def stuck_holder() -> None:
        async with store.lock("user", ttl=0.2, wait=1):
            stuck_holds.set()
            await release_stuck.wait()

    async def impatient() -> None:
        async with store.lock("user", ttl=5, wait=0.05):
            pass

    stuck = asyncio.create_task(stuck_holder())
    await stuck_holds.wait()
    head = asyncio.create_task(impatient())
    await asyncio.sleep(0)
    started = time.monotonic()
    async with store.lock("user", ttl=5, wait=3):
        # Taken when the stuck lease ran out (0.2 s), not at the end of our own wait (3 s).
        assert time.monotonic() - started < 1
    with pytest.raises(LockTimeout):
        await head
    release_stuck.set()
    await stuck


async def test_cancelled_waiter_leaves_the_queue() -> None:
    store = MemoryStore()
    async with store.lock("user", ttl=5, wait=1):
        waiter = asyncio.create_task(store.lock("user", ttl=5, wait=5).__aenter__())
        await asyncio.sleep(0)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
    async with store.lock("user", ttl=5, wait=0.05):
        pass


async def test_idle_locks_leave_no_state_behind() -> None:
    store = MemoryStore()
    for index in range(100):
        async with store.lock(f"user-{index}", ttl=5, wait=1):
            pass
    # The only way to see lock bookkeeping; a leak here grows with every user ever seen.
    assert store._locks == {}


async def test_expired_keys_are_swept_by_later_writes() -> None:
    store = MemoryStore()
    for index in range(1000):
        await store.set(f"old-{index}", b"v", ttl=0.01)
    await asyncio.sleep(0.02)
    for index in range(20):
        await store.set(f"new-{index}", b"v", ttl=10)
    assert len(store) == 20


async def test_full_store_evicts_the_key_closest_to_expiry() -> None:
    store = MemoryStore(max_keys=3)
    await store.set("long", b"v", ttl=100)
    await store.set("short", b"v", ttl=1)
    await store.set("medium", b"v", ttl=10)
    await store.set("new", b"v", ttl=10)
    assert len(store) == 3
    assert await store.get("short") is None
    assert store.evictions == 1
