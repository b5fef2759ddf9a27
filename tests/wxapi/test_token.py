"""The access token: fetched once, shared across workers, refreshed early, replaced when refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from app.stores.base import Store, StoreUnavailable
from app.wxapi import WeChatApiError, WeChatTimeout
from app.wxapi.token import cache_ttl
from tests.fakes.fake_wechat import FakeWeChat
from tests.wxapi.conftest import ClientFactory


async def test_calls_reuse_the_cached_token(wechat: FakeWeChat, make_client: ClientFactory) -> None:
    client = make_client()
    await client.send_text("o-user", "一")
    await client.send_text("o-user", "二")
    assert len(wechat.calls_to("stable_token")) == 1
    assert {call.token for call in wechat.calls_to("custom_send")} == {wechat.current_token}


async def test_two_workers_sharing_a_store_refresh_the_token_once(
    wechat: FakeWeChat, make_client: ClientFactory, shared_store: Store
) -> None:
    # A slow stable_token keeps the first refresh in flight while everyone else asks.
    wechat.delay("stable_token", 0.3)
    workers = [make_client(store=shared_store), make_client(store=shared_store)]
    await asyncio.gather(*(w.send_text(f"o-{i}", "您好") for i in range(5) for w in workers))
    assert len(wechat.calls_to("stable_token")) == 1
    assert len(wechat.sent) == 10


async def test_expired_token_mid_send_is_refreshed_once_and_the_send_retried(
    wechat: FakeWeChat, make_client: ClientFactory
) -> None:
    client = make_client()
    await client.send_text("o-user", "第一条")
    old = wechat.current_token
    wechat.expire_tokens()
    await client.send_text("o-user", "第二条")
    sends = wechat.calls_to("custom_send")
    assert [call.token for call in sends[1:]] == [old, wechat.current_token]
    assert wechat.current_token != old
    assert len(wechat.calls_to("stable_token")) == 2
    assert [m["text"]["content"] for m in wechat.sent] == ["第一条", "第二条"]
    assert client.stats.count("custom_send", "42001") == 1


async def test_token_refused_but_still_handed_out_is_force_refreshed(
    wechat: FakeWeChat, make_client: ClientFactory
) -> None:
    client = make_client()
    await client.send_text("o-user", "第一条")
    wechat.refuse_current_token(40001)
    await client.send_text("o-user", "第二条")
    refreshes = [call.body["force_refresh"] for call in wechat.calls_to("stable_token") if call.body]
    assert refreshes == [False, False, True]
    assert len(wechat.sent) == 2


async def test_forced_refresh_happens_at_most_once_a_minute(
    wechat: FakeWeChat, make_client: ClientFactory
) -> None:
    client = make_client()
    await client.send_text("o-user", "一")
    wechat.refuse_current_token(40001)
    await client.send_text("o-user", "二")
    wechat.refuse_current_token(40001)
    with pytest.raises(WeChatApiError) as failure:
        await client.send_text("o-user", "三")
    assert failure.value.errcode == 40001
    forced = [call for call in wechat.calls_to("stable_token") if call.body and call.body["force_refresh"]]
    assert len(forced) == 1


async def test_a_token_refused_twice_is_not_retried_a_second_time(
    wechat: FakeWeChat, make_client: ClientFactory
) -> None:
    client = make_client()
    wechat.fail_next("custom_send", 40001, times=2)
    with pytest.raises(WeChatApiError) as failure:
        await client.send_text("o-user", "您好")
    assert failure.value.errcode == 40001
    assert len(wechat.calls_to("custom_send")) == 2


async def test_token_is_refreshed_before_it_expires(wechat: FakeWeChat, make_client: ClientFactory) -> None:
    wechat.token_ttl_s = 2  # kept for half its life, as it is inside the early-refresh margin
    client = make_client()
    first = await client.access_token()
    await asyncio.sleep(1.1)
    second = await client.access_token()
    assert first != second
    assert len(wechat.calls_to("stable_token")) == 2


async def test_slow_token_refresh_is_a_bounded_timeout(
    wechat: FakeWeChat, make_client: ClientFactory
) -> None:
    wechat.delay("stable_token", 3)
    client = make_client(timeout_s=0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(WeChatTimeout):
        await client.send_text("o-user", "您好")
    assert loop.time() - started < 1.0
    assert wechat.calls_to("custom_send") == []


async def test_sends_queued_behind_a_failing_refresh_share_its_failure(
    wechat: FakeWeChat, make_client: ClientFactory
) -> None:
    wechat.delay("stable_token", 3)
    client = make_client(timeout_s=0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    outcomes = await asyncio.gather(*(client.send_text("o-user", "您好") for _ in range(5)), return_exceptions=True)
    assert all(isinstance(outcome, WeChatTimeout) for outcome in outcomes)
    assert len(wechat.calls_to("stable_token")) == 1
    assert loop.time() - started < 1.0


async def test_wrong_secret_is_reported_with_its_errcode(
    wechat: FakeWeChat, make_client: ClientFactory
) -> None:
    client = make_client(secret="not-the-secret")
    with pytest.raises(WeChatApiError) as failure:
        await client.access_token()
    assert failure.value.errcode == 40125


class _DownStore:
    """A store whose backend is unreachable, as RedisStore is while Redis restarts."""

    async def get(self, key: str) -> bytes | None:
        raise StoreUnavailable("down")

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        raise StoreUnavailable("down")

    async def set_if_absent(self, key: str, value: bytes, ttl: float) -> bool:
        raise StoreUnavailable("down")

    async def delete(self, *keys: str) -> None:
        raise StoreUnavailable("down")

    async def incr(self, key: str, ttl: float) -> int:
        raise StoreUnavailable("down")

    @asynccontextmanager
    async def lock(self, key: str, ttl: float, wait: float) -> AsyncIterator[None]:
        raise StoreUnavailable("down")
        yield

    async def ping(self) -> bool:
        return False

    async def close(self) -> None:
        return None


async def test_store_outage_falls_back_to_a_per_process_token(
    wechat: FakeWeChat, make_client: ClientFactory
) -> None:
    client = make_client(store=_DownStore())
    await client.send_text("o-user", "一")
    await client.send_text("o-user", "二")
    assert len(wechat.sent) == 2
    assert len(wechat.calls_to("stable_token")) == 1


@pytest.mark.parametrize(
    ("expires_in", "early", "ttl"),
    [(7200, 240, 6960), (480, 240, 240), (300, 240, 150), (1, 240, 0.5)],
)
def test_cache_ttl_ends_inside_the_renewal_window(expires_in: float, early: float, ttl: float) -> None:
    assert cache_ttl(expires_in, early) == ttl
