"""Redis-only behaviour: key layout, pipelining, and what callers see when Redis is gone or comes back."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from redis.asyncio import Redis

from app.stores.base import StoreUnavailable
from app.stores.redis import RedisStore
from bench.common import free_port
from tests.stores.conftest import RedisProcess
from tests.stores.test_turn_ops import end as turn_end
from tests.stores.test_turn_ops import start as turn_start

pytestmark = pytest.mark.redis

Operation = Callable[[RedisStore], Awaitable[object]]


async def _hold_lock(store: RedisStore) -> None:
    async with store.lock("user", ttl=5, wait=1):
        pass


OPERATIONS: dict[str, Operation] = {
    "get": lambda s: s.get("k"),
    "set": lambda s: s.set("k", b"v", ttl=10),
    "set_if_absent": lambda s: s.set_if_absent("k", b"v", ttl=10),
    "delete": lambda s: s.delete("k", "j"),
    "incr": lambda s: s.incr("n", ttl=10),
    "lock": _hold_lock,
}


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections and never answers, like a hung Redis."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


async def test_keys_are_stored_under_the_prefix(redis_url: str) -> None:
    store = RedisStore.from_url(redis_url, prefix="wxbot-test-prefix:")
    raw = Redis.from_url(redis_url)
    try:
        await store.set("session:abc", b"v", ttl=10)
        assert await raw.get("wxbot-test-prefix:session:abc") == b"v"
    finally:
        await raw.delete("wxbot-test-prefix:session:abc")
        await raw.aclose()
        await store.close()


@pytest.mark.parametrize("operation", OPERATIONS.values(), ids=OPERATIONS.keys())
async def test_refused_connection_raises_store_unavailable_quickly(operation: Operation) -> None:
    store = RedisStore.from_url(f"redis://127.0.0.1:{free_port()}/0")
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        await operation(store)
    assert time.monotonic() - started < 2
    await store.close()


# Each case waits out the 1 s operation timeout, so only the two distinct code paths.
@pytest.mark.parametrize("operation", [OPERATIONS["get"], _hold_lock], ids=["get", "lock"])
async def test_unresponsive_server_raises_store_unavailable_quickly(
    operation: Operation, silent_port: int
) -> None:
    store = RedisStore.from_url(f"redis://127.0.0.1:{silent_port}/0")
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        await operation(store)
    assert time.monotonic() - started < 2
    await store.close()


async def test_ping_is_false_when_redis_is_unreachable() -> None:
    store = RedisStore.from_url(f"redis://127.0.0.1:{free_port()}/0")
    assert await store.ping() is False
    await store.close()


async def test_first_command_after_a_restart_succeeds(redis_process: RedisProcess) -> None:
    store = RedisStore.from_url(redis_process.url)
    await store.set("k", b"before", ttl=10)
    redis_process.stop()
    redis_process.start()
    # The pooled connection died with the old server; the caller must not see that.
    await store.set("k", b"after", ttl=10)
    assert await store.get("k") == b"after"
    await store.close()


async def test_store_is_unavailable_while_down_and_recovers_when_back(redis_process: RedisProcess) -> None:
    store = RedisStore.from_url(redis_process.url)
    await store.set("k", b"v", ttl=10)
    redis_process.stop()
    with pytest.raises(StoreUnavailable):
        await store.get("k")
    assert await store.ping() is False
    redis_process.start()
    assert await store.ping() is True
    assert await store.set_if_absent("k", b"v", ttl=10) is True  # the restart lost the data
    await store.close()


def _counting_pipelines(store: RedisStore) -> list[int]:
    """Records each write of scripts the store makes to Redis (one pipeline: one write, one read)."""
    opened: list[int] = []
    original = store._evalsha

    async def evalsha(calls: list[Any]) -> list[Any]:
        opened.append(len(calls))
        return await original(calls)

    store._evalsha = evalsha  # type: ignore[method-assign]
    return opened


async def test_turns_begun_together_share_one_pipeline(redis_url: str) -> None:
    store = RedisStore.from_url(redis_url, prefix=f"wxbot-test-pipe-{os.getpid()}:")
    opened = _counting_pipelines(store)
    try:
        started = await asyncio.gather(*(store.begin_turn(turn_start(n, user=f"u{n}")) for n in range(5)))
        assert [s.status for s in started] == ["new"] * 5
        assert len(opened) == 1
        ended = [turn_end(s.lock_token or "", n, user=f"u{n}", session=f"S{n}".encode()) for n, s in enumerate(started)]
        await asyncio.gather(*(store.finish_turn(e) for e in ended))
        assert len(opened) == 2
        # Each script ran on its own keys: sessions saved, locks free for the next turn.
        assert [await store.get(f"session:u{n}") for n in range(5)] == [f"S{n}".encode() for n in range(5)]
        again = await asyncio.gather(*(store.begin_turn(turn_start(n + 10, user=f"u{n}")) for n in range(5)))
        assert [s.status for s in again] == ["new"] * 5
    finally:
        await store.delete(*(f"{kind}:u{n}" for kind in ("session", "lock:user") for n in range(5)))
        await store.close()


async def test_a_pipeline_after_a_restart_loads_its_scripts_again(redis_process: RedisProcess) -> None:
    store = RedisStore.from_url(redis_process.url)
    await store.begin_turn(turn_start(0, user="u0"))
    redis_process.stop()
    redis_process.start()  # the new server knows no scripts (NOSCRIPT) and the pooled connection is dead
    started = await asyncio.gather(*(store.begin_turn(turn_start(n, user=f"u{n}")) for n in range(1, 4)))
    assert [s.status for s in started] == ["new"] * 3
    await store.close()


async def test_every_turn_of_a_failed_pipeline_sees_the_store_unavailable() -> None:
    store = RedisStore.from_url(f"redis://127.0.0.1:{free_port()}/0")
    outcomes = await asyncio.gather(
        *(store.begin_turn(turn_start(n, user=f"u{n}")) for n in range(3)), return_exceptions=True
    )
    assert all(isinstance(o, StoreUnavailable) for o in outcomes)
    await store.close()
