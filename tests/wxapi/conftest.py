"""Fixtures for the WeChat API client: the fake WeChat on loopback and the shared store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from app.stores.base import Store
from app.stores.memory import MemoryStore
from app.wxapi import WeChatClient
from tests.fakes.fake_wechat import FakeWeChat

ClientFactory = Callable[..., WeChatClient]


@pytest.fixture
async def memory_store() -> AsyncIterator[Store]:
    store = MemoryStore()
    yield store
    await store.close()


@pytest.fixture
def shared_store(store: Store) -> Store:
    """The store workers share: in-process, and the real Redis when REDIS_URL is set (CI)."""
    return store


@pytest.fixture
async def make_client(wechat: FakeWeChat, memory_store: Store) -> AsyncIterator[ClientFactory]:
    """Build clients for the fake (defaults: its credentials, the memory store); closed after."""
    made: list[WeChatClient] = []

    def factory(**overrides: Any) -> WeChatClient:
        options: dict[str, Any] = {
            "appid": wechat.appid,
            "secret": wechat.secret,
            "store": memory_store,
            "base_url": wechat.url,
            "timeout_s": 2.0,
        }
        options.update(overrides)
        client = WeChatClient(**options)
        made.append(client)
        return client

    yield factory
    for client in made:
        await client.aclose()
