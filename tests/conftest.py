"""Fixtures shared across the suite: real servers, where tests need them."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import NoReturn

import pytest
import redis

from app.db.engine import make_engine
from app.db.migrate import upgrade
from app.stores.base import Store
from app.stores.memory import MemoryStore
from app.stores.redis import RedisStore
from app.wxapi import WeChatClient
from tests.fakes.fake_wechat import FakeWeChat


def server_missing(reason: str) -> NoReturn:
    """Skip locally, but fail in CI: `.ci/run` starts the servers, so absence there is a bug."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: server-backed tests must run)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """REDIS_URL of a reachable Redis server; tests using it share that server, so use a key prefix."""
    url = os.environ.get("REDIS_URL")
    if not url:
        server_missing("REDIS_URL is not set")
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        server_missing(f"Redis at REDIS_URL is unreachable: {type(exc).__name__}")
    finally:
        client.close()
    return url


@pytest.fixture(
    params=[
        "memory",
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("redis-pooled", marks=pytest.mark.redis),
    ]
)
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    """Each store implementation in turn: in-process, and the real Redis (a key prefix per test),
    its turn scripts on their own connection and, as over TLS, on redis-py's pooled ones."""
    if request.param == "memory":
        memory = MemoryStore()
        yield memory
        await memory.close()
        return
    url: str = request.getfixturevalue("redis_url")
    prefix = f"wxbot-test:{uuid.uuid4().hex}:"
    redis_store = RedisStore.from_url(url, prefix=prefix, own_connection=request.param != "redis-pooled")
    yield redis_store
    await delete_prefixed(redis_store, prefix)
    await redis_store.close()


async def delete_prefixed(store: RedisStore, prefix: str) -> None:
    client = store._redis
    keys = [key async for key in client.scan_iter(match=prefix + "*")]
    if keys:
        await client.delete(*keys)


@pytest.fixture(scope="session")
def wechat_server() -> Iterator[FakeWeChat]:
    """The fake WeChat API on 127.0.0.1, one for the whole run."""
    with FakeWeChat() as fake:
        yield fake


@pytest.fixture
def wechat(wechat_server: FakeWeChat) -> FakeWeChat:
    """The fake, reset: no tokens, knobs or recorded calls left from an earlier test."""
    wechat_server.reset()
    return wechat_server


@contextlib.asynccontextmanager
async def wechat_client(fake: FakeWeChat, timeout_s: float = 3.0) -> AsyncIterator[WeChatClient]:
    """A WeChatClient of the fake, its access token cached in a store of its own."""
    store = MemoryStore()
    async with WeChatClient(
        appid=fake.appid, secret=fake.secret, store=store, base_url=fake.url, timeout_s=timeout_s
    ) as client:
        yield client
    await store.close()


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    """A migrated SQLite file, no engine left open on it (each test opens the engines it needs)."""
    path = tmp_path / "wx.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path
