"""Customer-service messages and menus over real HTTP, and how each failure is reported."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from app.wxapi import WeChatApiError, WeChatTimeout, WeChatUnavailable
from handlers.replies import Article
from tests.fakes.fake_wechat import FakeWeChat
from tests.wxapi.conftest import ClientFactory


async def test_text_message_goes_out_as_utf8_json(wechat: FakeWeChat, make_client: ClientFactory) -> None:
    await make_client().send_text("o-user", "您好，材料清单如下")
    assert wechat.sent == [{"touser": "o-user", "msgtype": "text", "text": {"content": "您好，材料清单如下"}}]


async def test_news_message_carries_one_article(wechat: FakeWeChat, make_client: ClientFactory) -> None:
    article = Article(title="办事指南", description="营业执照", url="https://example.gov.cn/a", pic_url="")
    await make_client().send_news("o-user", article)
    (message,) = wechat.sent
    assert message["msgtype"] == "news"
    assert message["news"]["articles"] == [
        {"title": "办事指南", "description": "营业执照", "url": "https://example.gov.cn/a", "picurl": ""}
    ]


@pytest.mark.parametrize("errcode", [45015, 45047])
async def test_window_and_quota_errors_are_raised_and_not_retried(
    wechat: FakeWeChat, make_client: ClientFactory, errcode: int
) -> None:
    client = make_client()
    wechat.fail_next("custom_send", errcode)
    with pytest.raises(WeChatApiError) as failure:
        await client.send_text("o-user", "您好")
    assert failure.value.errcode == errcode
    assert len(wechat.calls_to("custom_send")) == 1
    assert client.stats.count("custom_send", str(errcode)) == 1


async def test_slow_answer_is_a_timeout_within_the_budget(
    wechat: FakeWeChat, make_client: ClientFactory
) -> None:
    client = make_client(timeout_s=0.3)
    await client.access_token()
    wechat.delay("custom_send", 3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(WeChatTimeout):
        await client.send_text("o-user", "您好")
    assert loop.time() - started < 1.0
    assert len(wechat.calls_to("custom_send")) == 1
    assert client.stats.count("custom_send", "timeout") == 1


async def test_http_error_status_is_reported_and_not_retried(
    wechat: FakeWeChat, make_client: ClientFactory
) -> None:
    client = make_client()
    await client.access_token()
    wechat.http_error_next("custom_send", 502)
    with pytest.raises(WeChatUnavailable) as failure:
        await client.send_text("o-user", "您好")
    assert failure.value.code == "http_502"
    assert len(wechat.calls_to("custom_send")) == 1


async def test_system_error_is_raised_not_retried(wechat: FakeWeChat, make_client: ClientFactory) -> None:
    client = make_client()
    wechat.fail_next("custom_send", -1)
    with pytest.raises(WeChatApiError) as failure:
        await client.send_text("o-user", "您好")
    assert failure.value.errcode == -1
    assert len(wechat.calls_to("custom_send")) == 1


async def test_unreachable_wechat_is_a_network_error(make_client: ClientFactory) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    client = make_client(base_url=f"http://127.0.0.1:{closed_port}")
    with pytest.raises(WeChatUnavailable) as failure:
        await client.send_text("o-user", "您好")
    assert failure.value.code == "network"
    assert client.stats.count("stable_token", "network") == 1


async def test_observer_sees_every_call_outcome(wechat: FakeWeChat, make_client: ClientFactory) -> None:
    seen: list[tuple[str, str]] = []
    client = make_client(observer=lambda api, outcome: seen.append((api, outcome)))
    wechat.fail_next("custom_send", 45047)
    with pytest.raises(WeChatApiError):
        await client.send_text("o-user", "一")
    await client.send_text("o-user", "二")
    assert seen == [("stable_token", "ok"), ("custom_send", "45047"), ("custom_send", "ok")]


async def test_failing_observer_does_not_break_a_send(wechat: FakeWeChat, make_client: ClientFactory) -> None:
    def broken(api: str, outcome: str) -> None:
        raise RuntimeError("metrics backend gone")

    await make_client(observer=broken).send_text("o-user", "您好")
    assert len(wechat.sent) == 1


async def test_menu_created_is_the_menu_read_back(wechat: FakeWeChat, make_client: ClientFactory) -> None:
    client = make_client()
    menu = {"button": [{"type": "click", "name": "预约办事", "key": "flow:booking"}]}
    await client.create_menu(menu)
    assert wechat.calls_to("menu_create")[0].body == menu
    assert await client.get_menu() == {"menu": menu}


async def test_account_without_a_menu_reads_as_none(make_client: ClientFactory) -> None:
    assert await make_client().get_menu() is None


async def test_access_token_never_reaches_the_logs(
    wechat: FakeWeChat, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # The app quiets httpx to WARNING; turn it back up so the URLs are logged and checked.
    caplog.set_level(logging.DEBUG, logger="httpx")
    client = make_client()
    await client.send_text("o-user", "您好")
    token = wechat.current_token
    assert token is not None
    assert "access_token=***" in caplog.text
    assert token not in caplog.text
