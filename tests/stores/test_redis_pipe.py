"""The turn scripts' own Redis connection (app.stores.redis_pipe): who it connects as, where, and
what callers see when it fails."""

from __future__ import annotations

import asyncio
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from app.stores.base import StoreUnavailable
from app.stores.redis import RedisStore
from app.stores.redis_pipe import PipeTarget
from tests.stores.conftest import RedisProcess, running_redis
from tests.stores.test_turn_ops import end as turn_end
from tests.stores.test_turn_ops import start as turn_start

pytestmark = pytest.mark.redis


class PasswordRedis(RedisProcess):
    password = "s3cret-pass"

    def __init__(self, binary: str) -> None:
        super().__init__(binary)
        self._extra = ["--requirepass", self.password]


class SocketRedis(RedisProcess):
    def __init__(self, binary: str) -> None:
        super().__init__(binary)
        self.path = str(Path(tempfile.mkdtemp(prefix="wxbot-redis-")) / "redis.sock")
        self._extra = ["--unixsocket", self.path, "--unixsocketperm", "700"]


@pytest.fixture
def password_redis() -> Iterator[PasswordRedis]:
    yield from running_redis(PasswordRedis)


@pytest.fixture
def socket_redis() -> Iterator[SocketRedis]:
    yield from running_redis(SocketRedis)


async def _one_turn(store: RedisStore, user: str) -> None:
    started = await store.begin_turn(turn_start(1, user=user))
    assert started.status == "new" and started.lock_token
    await store.finish_turn(turn_end(started.lock_token, 1, user=user, session=b"S-" + user.encode()))


async def test_the_scripts_connection_authenticates_and_selects_the_database(password_redis: PasswordRedis) -> None:
    url = f"redis://:{password_redis.password}@127.0.0.1:{password_redis.port}/3"
    store = RedisStore.from_url(url, prefix="p:")
    assert store._pipe is not None
    await _one_turn(store, "u1")
    raw = Redis.from_url(url)
    try:
        assert await raw.get("p:session:u1") == b"S-u1"  # in database 3, where redis-py looks too
    finally:
        await raw.aclose()
        await store.close()


async def test_a_wrong_password_is_the_store_unavailable(password_redis: PasswordRedis) -> None:
    store = RedisStore.from_url(f"redis://:wrong@127.0.0.1:{password_redis.port}/0")
    with pytest.raises(StoreUnavailable):
        await store.begin_turn(turn_start(1))
    await store.close()


async def test_the_scripts_connection_works_over_a_unix_socket(socket_redis: SocketRedis) -> None:
    store = RedisStore.from_url(f"unix://{socket_redis.path}?db=2", prefix="s:")
    assert store._pipe is not None
    await _one_turn(store, "u2")
    assert await store.get("session:u2") == b"S-u2"  # the same data through redis-py's connection
    await store.close()


def test_tls_keeps_the_pooled_connections() -> None:
    assert PipeTarget.of(Redis.from_url("rediss://:pw@127.0.0.1:6380/0")) is None
    assert RedisStore.from_url("rediss://:pw@127.0.0.1:6380/0")._pipe is None


async def test_an_unresponsive_server_fails_the_turn_within_the_operation_timeout() -> None:
    with socket.socket() as sock:  # accepts connections and never answers, like a hung Redis
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        store = RedisStore.from_url(f"redis://127.0.0.1:{sock.getsockname()[1]}/0", op_timeout=0.3)
        started = time.monotonic()
        outcomes = await asyncio.gather(*(store.begin_turn(turn_start(n, user=f"u{n}")) for n in range(3)),
                                        return_exceptions=True)
        assert all(isinstance(o, StoreUnavailable) for o in outcomes), outcomes
        assert time.monotonic() - started < 1.5
        await store.close()


async def test_pipelines_in_flight_when_the_server_dies_fail_and_the_next_turn_reconnects(
    redis_process: RedisProcess,
) -> None:
    store = RedisStore.from_url(redis_process.url, cooldown_s=0)
    await _one_turn(store, "u0")
    # Stopped with turns queued on the connection: each is told the store is unavailable, none hangs.
    turns = [asyncio.ensure_future(store.begin_turn(turn_start(n, user=f"u{n}"))) for n in range(1, 6)]
    redis_process.stop()
    started = time.monotonic()
    outcomes = await asyncio.gather(*turns, return_exceptions=True)
    assert all(isinstance(o, StoreUnavailable) for o in outcomes), outcomes
    assert time.monotonic() - started < 1.5
    redis_process.start()
    await _one_turn(store, "u9")
    await store.close()
