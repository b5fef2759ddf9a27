"""The `Store` contract: every behaviour once, against the in-process store and Redis alike."""

from __future__ import annotations

import asyncio
import time

import pytest

from app.stores.base import LockTimeout, Store


async def test_get_of_missing_key_is_none(store: Store) -> None:
    assert await store.get("absent") is None


async def test_set_then_get_returns_the_value(store: Store) -> None:
    await store.set("k", b"\x00value\xff", ttl=10)
    assert await store.get("k") == b"\x00value\xff"


async def test_set_overwrites_an_existing_value(store: Store) -> None:
    await store.set("k", b"old", ttl=10)
    await store.set("k", b"new", ttl=10)
    assert await store.get("k") == b"new"


async def test_value_expires_after_its_ttl(store: Store) -> None:
    await store.set("k", b"v", ttl=0.05)
    await asyncio.sleep(0.1)
    assert await store.get("k") is None


async def test_set_if_absent_creates_only_once(store: Store) -> None:
    assert await store.set_if_absent("claim", b"first", ttl=10) is True
    assert await store.set_if_absent("claim", b"second", ttl=10) is False
    assert await store.get("claim") == b"first"


async def test_set_if_absent_succeeds_again_after_expiry(store: Store) -> None:
    await store.set_if_absent("claim", b"first", ttl=0.05)
    await asyncio.sleep(0.1)
    assert await store.set_if_absent("claim", b"second", ttl=10) is True


async def test_concurrent_set_if_absent_has_exactly_one_winner(store: Store) -> None:
    results = await asyncio.gather(
        *(store.set_if_absent("claim", str(i).encode(), ttl=10) for i in range(50))
    )
    assert results.count(True) == 1
    winner = results.index(True)
    assert await store.get("claim") == str(winner).encode()


async def test_delete_removes_every_key_given_and_ignores_missing(store: Store) -> None:
    for key in ("a", "b", "c"):
        await store.set(key, b"v", ttl=10)
    await store.delete("a", "b", "never-set")
    assert [await store.get(k) for k in ("a", "b", "c")] == [None, None, b"v"]


async def test_incr_counts_from_one(store: Store) -> None:
    assert [await store.incr("n", ttl=10) for _ in range(3)] == [1, 2, 3]
    assert await store.get("n") == b"3"


async def test_incr_window_is_not_extended_by_later_increments(store: Store) -> None:
    await store.incr("n", ttl=0.4)
    await asyncio.sleep(0.25)
    await store.incr("n", ttl=0.4)
    await asyncio.sleep(0.25)  # 0.5 s after creation; an extended window would last to 0.65 s
    assert await store.get("n") is None
    assert await store.incr("n", ttl=0.4) == 1


async def test_lock_prevents_lost_updates(store: Store) -> None:
    await store.set("shared", b"0", ttl=10)
    holders = 0
    most_holders = 0

    async def add_one() -> None:
        nonlocal holders, most_holders
        async with store.lock("shared", ttl=5, wait=5):
            holders += 1
            most_holders = max(most_holders, holders)
            value = int(await store.get("shared") or b"0")
            await asyncio.sleep(0.001)
            await store.set("shared", str(value + 1).encode(), ttl=10)
            holders -= 1

    await asyncio.gather(*(add_one() for _ in range(20)))
    assert await store.get("shared") == b"20"
    assert most_holders == 1


async def test_lock_wait_timeout_raises_lock_timeout(store: Store) -> None:
    async with store.lock("user", ttl=5, wait=1):
        started = time.monotonic()
        with pytest.raises(LockTimeout):
            async with store.lock("user", ttl=5, wait=0.05):
                pass
        assert time.monotonic() - started < 0.5


async def test_lock_is_released_when_the_body_raises(store: Store) -> None:
    with pytest.raises(RuntimeError):
        async with store.lock("user", ttl=5, wait=1):
            raise RuntimeError("handler failed")
    async with store.lock("user", ttl=5, wait=0.05):
        pass


async def test_locks_on_different_keys_do_not_block_each_other(store: Store) -> None:
    async with store.lock("alice", ttl=5, wait=1), store.lock("bob", ttl=5, wait=0.05):
        pass


async def test_lock_names_do_not_touch_data_keys(store: Store) -> None:
    await store.set("user", b"session", ttl=10)
    async with store.lock("user", ttl=5, wait=1):
        assert await store.get("user") == b"session"
    assert await store.get("user") == b"session"


async def test_expired_lease_lets_the_next_holder_in_and_old_release_keeps_it_held(store: Store) -> None:
    first_may_exit = asyncio.Event()
    first_holds = asyncio.Event()

    async def stuck_holder() -> None:
        async with store.lock("user", ttl=0.1, wait=1):
            first_holds.set()
            await first_may_exit.wait()

    first = asyncio.create_task(stuck_holder())
    await first_holds.wait()
    started = time.monotonic()
    async with store.lock("user", ttl=5, wait=2):
        assert time.monotonic() - started < 1  # taken at lease expiry, not at the wait limit
        first_may_exit.set()
        await first  # the old holder "releases" while we hold the lock
        with pytest.raises(LockTimeout):
            async with store.lock("user", ttl=5, wait=0.05):
                pass


async def test_ping_reports_a_reachable_store(store: Store) -> None:
    assert await store.ping() is True
