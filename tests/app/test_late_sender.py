"""Late replies go out through the customer-service API, and each outcome is reported."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from app.late import LateDelivery
from app.late_sender import CustomerServiceSender, build_late_sender
from app.wxapi import WeChatClient
from handlers import handoff
from handlers.replies import Article, NewsReply, NoReply, Reply, TextReply, TransferReply
from tests.conftest import wechat_client
from tests.fakes.fake_wechat import FakeWeChat


@pytest.fixture
async def client(wechat: FakeWeChat) -> AsyncIterator[WeChatClient]:
    async with wechat_client(wechat, timeout_s=0.5) as made:
        yield made


async def test_late_text_is_sent_as_a_text_message(wechat: FakeWeChat, client: WeChatClient) -> None:
    delivery = await CustomerServiceSender(client).send("o-user", TextReply("您的预约已受理"))
    assert delivery == LateDelivery(ok=True, detail="sent")
    assert wechat.sent[0]["text"] == {"content": "您的预约已受理"}


async def test_late_news_is_sent_as_one_article(wechat: FakeWeChat, client: WeChatClient) -> None:
    reply = NewsReply([Article(title="指南", url="https://example.gov.cn/1"), Article(title="第二篇")])
    delivery = await CustomerServiceSender(client).send("o-user", reply)
    assert delivery.detail == "sent"
    assert [a["title"] for a in wechat.sent[0]["news"]["articles"]] == ["指南"]


@pytest.mark.parametrize("reply", [NoReply(), NewsReply([])])
async def test_nothing_to_show_sends_nothing(wechat: FakeWeChat, client: WeChatClient, reply: Reply) -> None:
    delivery = await CustomerServiceSender(client).send("o-user", reply)
    assert delivery == LateDelivery(ok=True, detail="nothing_to_send")
    assert wechat.calls == []


async def test_a_late_transfer_asks_the_user_to_request_an_agent_again(
    wechat: FakeWeChat, client: WeChatClient
) -> None:
    delivery = await CustomerServiceSender(client).send("o-user", TransferReply("kf2001@gh_test"))
    assert delivery == LateDelivery(ok=False, detail="transfer_missed")
    assert wechat.sent[0]["text"] == {"content": handoff.TRANSFER_MISSED}


@pytest.mark.parametrize("errcode", [45015, 45047])
async def test_window_or_quota_refusal_is_reported_with_its_errcode(
    wechat: FakeWeChat, client: WeChatClient, errcode: int
) -> None:
    wechat.fail_next("custom_send", errcode)
    delivery = await CustomerServiceSender(client).send("o-user", TextReply("您好"))
    assert delivery == LateDelivery(ok=False, detail=str(errcode))
    assert len(wechat.calls_to("custom_send")) == 1


async def test_slow_wechat_is_reported_as_timeout_within_the_budget(
    wechat: FakeWeChat, client: WeChatClient
) -> None:
    wechat.delay("custom_send", 3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    delivery = await CustomerServiceSender(client, budget_s=5).send("o-user", TextReply("您好"))
    assert delivery == LateDelivery(ok=False, detail="timeout")
    assert loop.time() - started < 1.5


async def test_failing_wechat_is_reported_not_raised(wechat: FakeWeChat, client: WeChatClient) -> None:
    wechat.http_error_next("stable_token", 500)
    delivery = await CustomerServiceSender(client).send("o-user", TextReply("您好"))
    assert delivery == LateDelivery(ok=False, detail="http_500")


async def test_reply_finished_after_the_deadline_reaches_the_user(
    wechat: FakeWeChat, client: WeChatClient
) -> None:
    """The callback's shape: wait for the handler up to the deadline, answer `success`, hand over the rest."""

    async def slow_handler() -> Reply:
        await asyncio.sleep(0.3)
        return TextReply("查询结果：您的申请已办结")

    task = asyncio.create_task(slow_handler())
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.shield(task), timeout=0.05)
    assert wechat.sent == []  # the deadline fired first: nothing was sent yet
    delivery = await CustomerServiceSender(client).send("o-user", await task)
    assert delivery.detail == "sent"
    assert wechat.sent == [
        {"touser": "o-user", "msgtype": "text", "text": {"content": "查询结果：您的申请已办结"}}
    ]


async def test_without_a_client_late_replies_are_recorded_as_not_configured() -> None:
    delivery = await build_late_sender(None).send("o-user", TextReply("您好"))
    assert delivery == LateDelivery(ok=False, detail="not_configured")
