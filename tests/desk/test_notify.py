"""`app.notify` against the fake WeChat API: the 48-hour window, 45015 and 45047, template
messages, nothing configured, and sending once under concurrent callers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from app.notify import Delivery, Notice, Notifier, NotifyConfigError, Template, parse_templates
from app.stores.memory import MemoryStore
from app.wxapi import WeChatClient
from tests.conftest import wechat_client
from tests.fakes.fake_wechat import FakeWeChat

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
TEMPLATE = Template("tpl-ticket", {"keyword1": "{number}", "keyword2": "{status}", "remark": "{text}"})
NOTICE = Notice(text="您提交的事项已办结。", fields={"number": "20261207-0001", "status": "已办结"})


@pytest.fixture
async def client(wechat: FakeWeChat) -> AsyncIterator[WeChatClient]:
    async with wechat_client(wechat) as made:
        yield made


def last_message(hours_ago: float | None):  # type: ignore[no-untyped-def]
    async def window(openid: str) -> datetime | None:
        return None if hours_ago is None else NOW - timedelta(hours=hours_ago)

    return window


def notifier(client: WeChatClient, hours_ago: float | None, templates: bool = True, **kw: object) -> Notifier:
    return Notifier(
        client=client, window=last_message(hours_ago), templates={"ticket": TEMPLATE} if templates else {},
        clock=lambda: NOW, **kw,  # type: ignore[arg-type]
    )


async def test_inside_the_window_a_customer_service_message_is_sent(client: WeChatClient, wechat: FakeWeChat) -> None:
    delivery = await notifier(client, hours_ago=47).notify("o1", NOTICE)
    assert delivery == Delivery(True, "kf", "sent")
    assert wechat.sent == [{"touser": "o1", "msgtype": "text", "text": {"content": NOTICE.text}}]
    assert wechat.templates_sent == []


async def test_outside_the_window_the_template_message_is_sent(client: WeChatClient, wechat: FakeWeChat) -> None:
    delivery = await notifier(client, hours_ago=49).notify("o1", NOTICE)
    assert delivery == Delivery(True, "template", "sent")
    assert wechat.sent == []
    (body,) = wechat.templates_sent
    assert body["template_id"] == "tpl-ticket"
    assert body["data"] == {
        "keyword1": {"value": "20261207-0001"}, "keyword2": {"value": "已办结"}, "remark": {"value": NOTICE.text}
    }


@pytest.mark.parametrize("errcode", [45015, 45047])
async def test_a_closed_window_or_used_quota_falls_back_to_the_template(
    client: WeChatClient, wechat: FakeWeChat, errcode: int
) -> None:
    wechat.fail_next("custom_send", errcode)
    delivery = await notifier(client, hours_ago=1).notify("o1", NOTICE)
    assert delivery == Delivery(True, "template", "sent")
    assert len(wechat.calls_to("custom_send")) == 1  # not retried
    assert len(wechat.templates_sent) == 1


async def test_without_a_template_the_failure_says_why(client: WeChatClient, wechat: FakeWeChat) -> None:
    wechat.fail_next("custom_send", 45015)
    delivery = await notifier(client, hours_ago=1, templates=False).notify("o1", NOTICE)
    assert not delivery.ok and delivery.detail == "45015; no_template"
    assert "未配置模板消息" in delivery.describe()


async def test_no_window_and_no_template_sends_nothing(client: WeChatClient, wechat: FakeWeChat) -> None:
    delivery = await notifier(client, hours_ago=None, templates=False).notify("o1", NOTICE)
    assert delivery == Delivery(False, "", "no_template")
    assert wechat.calls_to("custom_send") == [] and wechat.calls_to("template_send") == []


async def test_a_failing_template_is_reported_with_both_errors(client: WeChatClient, wechat: FakeWeChat) -> None:
    wechat.fail_next("custom_send", 45047)
    wechat.fail_next("template_send", 43004)
    delivery = await notifier(client, hours_ago=1).notify("o1", NOTICE)
    assert delivery == Delivery(False, "template", "45047; 43004")


async def test_no_app_secret_means_not_configured() -> None:
    delivery = await Notifier(client=None, window=last_message(1)).notify("o1", NOTICE)
    assert delivery == Delivery(False, "", "not_configured")


async def test_once_sends_a_single_message_under_concurrent_callers(client: WeChatClient, wechat: FakeWeChat) -> None:
    store = MemoryStore()
    sender = notifier(client, hours_ago=1, store=store)
    results = await asyncio.gather(*(sender.notify("o1", NOTICE, once="event-7") for _ in range(5)))
    assert sum(r.ok for r in results) == 1
    assert sum(r.detail == "duplicate" for r in results) == 4
    assert len(wechat.sent) == 1
    await store.close()


def test_template_config_needs_an_id_and_fields() -> None:
    with pytest.raises(NotifyConfigError, match="template_id"):
        parse_templates({"ticket": {"fields": {"a": "b"}}})
    with pytest.raises(NotifyConfigError, match="fields"):
        parse_templates({"ticket": {"template_id": "x"}})
    assert parse_templates({"t": {"template_id": "x", "fields": {"k": "{number}"}}})["t"].template_id == "x"
