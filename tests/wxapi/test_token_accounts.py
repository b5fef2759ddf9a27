"""Two accounts' access tokens in one shared store (issue 16): a refresh of one never touches the other.

The SDK peers' trackers show caches keyed without the AppID, so that accounts overwrite each
other's tokens. Each account here talks to its own fake WeChat (its own AppID and secret), and
both clients share the store (in-process and Redis) and, as in the service, one HTTP pool.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator

import pytest

from app.stores.base import Store
from app.wxapi import WeChatClient
from app.wxapi.client import shared_http
from tests.fakes.fake_wechat import FakeWeChat


@pytest.fixture
def second_wechat() -> Iterator[FakeWeChat]:
    with FakeWeChat(appid="wxsecond00000016", secret="second-secret") as fake:
        fake._serial = itertools.count(1_000_000)  # tokens unlike the first fake's
        yield fake


@pytest.fixture
async def clients(
    wechat: FakeWeChat, second_wechat: FakeWeChat, shared_store: Store
) -> AsyncIterator[tuple[WeChatClient, WeChatClient]]:
    http = shared_http(wechat.url, timeout_s=2.0)
    first = WeChatClient(appid=wechat.appid, secret=wechat.secret, store=shared_store, http=http)
    second = WeChatClient(
        appid=second_wechat.appid, secret=second_wechat.secret, store=shared_store, base_url=second_wechat.url
    )
    yield first, second
    await first.aclose()
    await second.aclose()
    await http.aclose()


async def test_each_account_gets_and_keeps_its_own_token(
    wechat: FakeWeChat, second_wechat: FakeWeChat, clients: tuple[WeChatClient, WeChatClient], shared_store: Store
) -> None:
    first, second = clients
    assert await first.access_token() == wechat.current_token
    assert await second.access_token() == second_wechat.current_token
    assert wechat.current_token != second_wechat.current_token
    assert await shared_store.get(f"wxapi:token:{wechat.appid}") == (wechat.current_token or "").encode()
    assert await shared_store.get(f"wxapi:token:{second_wechat.appid}") == (second_wechat.current_token or "").encode()


async def test_one_accounts_refresh_never_touches_the_others_token(
    wechat: FakeWeChat, second_wechat: FakeWeChat, clients: tuple[WeChatClient, WeChatClient], shared_store: Store
) -> None:
    first, second = clients
    await first.send_text("o-a", "一")
    await second.send_text("o-b", "一")
    second_token = second_wechat.current_token
    # The first account's token is refused: it refreshes (and forces), the second is left alone.
    wechat.refuse_current_token()
    await first.send_text("o-a", "二")
    assert len(wechat.calls_to("stable_token")) >= 2
    await second.send_text("o-b", "二")
    assert len(second_wechat.calls_to("stable_token")) == 1
    assert second_wechat.current_token == second_token
    assert await shared_store.get(f"wxapi:token:{second_wechat.appid}") == (second_token or "").encode()
    assert {call.token for call in second_wechat.calls_to("custom_send")} == {second_token}
