"""Subscriptions in chat: 「订阅…」「退订…」「我的订阅」, and the one-time offer after an FAQ answer."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from handlers import router
from handlers.context import HandlerContext, Turn, TurnResult
from handlers.messages import EventMessage, TextMessage
from handlers.replies import TextReply
from handlers.session import Session
from knowledge.matcher import Matcher
from knowledge.topics import Topic, TopicCatalog
from tests.knowledge.conftest import BASIC

OPENID = "o_sub"
NOW = datetime(2024, 6, 3, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
TOPICS = TopicCatalog([
    Topic("gjj", "公积金政策", ("公积金",), (), ("公积金",)),
    Topic("sb", "社保政策", ("社保",), (), ("社保",)),
])


class MemorySubscriptions:
    """The Services port's subscription methods, in memory; records each offer asked for."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], str] = {}
        self.offers: list[str] = []

    async def subscribe(self, openid: str, topic: str) -> bool:
        before = self.rows.get((openid, topic))
        self.rows[(openid, topic)] = "subscribed"
        return before != "subscribed"

    async def unsubscribe(self, openid: str, topic: str | None) -> list[str]:
        left = sorted(t for (o, t), s in self.rows.items() if o == openid and s == "subscribed"
                      and (topic is None or t == topic))
        for t in left:
            self.rows[(openid, t)] = "unsubscribed"
        return left

    async def subscriptions(self, openid: str) -> list[str]:
        return [t for (o, t), s in self.rows.items() if o == openid and s == "subscribed"]

    async def forget_subscriptions(self, openid: str) -> None:
        await self.unsubscribe(openid, None)

    async def offer_topic(self, openid: str, topic: str) -> bool:
        self.offers.append(topic)
        if (openid, topic) in self.rows:
            return False
        self.rows[(openid, topic)] = "offered"
        return True


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher.from_directory(BASIC)


@pytest.fixture
def port() -> MemorySubscriptions:
    return MemorySubscriptions()


@pytest.fixture
def ctx(matcher: Matcher, port: MemorySubscriptions) -> HandlerContext:
    return HandlerContext(matcher=matcher, flows=None, services=port, topics=TOPICS)  # type: ignore[arg-type]


def _turn(text: str, session: Session) -> Turn:
    message = TextMessage("gh", OPENID, 1, "text", msg_id="1", content=text)
    return Turn(message, session, NOW)


def _text(result: TurnResult) -> str:
    assert isinstance(result.reply, TextReply)
    return result.reply.content


async def test_subscribing_by_name_and_listing(ctx: HandlerContext, port: MemorySubscriptions) -> None:
    session = Session(openid=OPENID)
    assert "已为您订阅「公积金政策」" in _text(await router.dispatch(_turn("订阅公积金政策", session), ctx))
    assert "您已订阅「公积金政策」" in _text(await router.dispatch(_turn("订阅公积金", session), ctx))
    await router.dispatch(_turn("订阅社保", session), ctx)
    mine = _text(await router.dispatch(_turn("我的订阅", session), ctx))
    assert "· 公积金政策" in mine and "· 社保政策" in mine


async def test_unsubscribing_one_then_all(ctx: HandlerContext, port: MemorySubscriptions) -> None:
    session = Session(openid=OPENID)
    await router.dispatch(_turn("订阅公积金政策", session), ctx)
    await router.dispatch(_turn("订阅社保政策", session), ctx)
    assert "已为您退订：「社保政策」" in _text(await router.dispatch(_turn("退订社保", session), ctx))
    assert "已为您退订：「公积金政策」" in _text(await router.dispatch(_turn("退订", session), ctx))
    assert "没有订阅任何主题" in _text(await router.dispatch(_turn("退订", session), ctx))
    assert "没有订阅任何主题" in _text(await router.dispatch(_turn("我的订阅", session), ctx))


async def test_an_unknown_topic_lists_the_topics(ctx: HandlerContext) -> None:
    text = _text(await router.dispatch(_turn("订阅天气", Session(openid=OPENID)), ctx))
    assert "1. 公积金政策" in text and "2. 社保政策" in text


async def test_a_long_question_starting_with_the_verb_goes_to_the_faq(ctx: HandlerContext) -> None:
    result = await router.dispatch(_turn("订阅号和服务号有什么区别呢我想了解一下", Session(openid=OPENID)), ctx)
    assert "可以订阅的主题" not in _text(result)


async def test_an_faq_answer_in_a_topic_offers_it_once_and_a_bare_subscribe_takes_it(
    ctx: HandlerContext, port: MemorySubscriptions
) -> None:
    session = Session(openid=OPENID)
    first = await router.dispatch(_turn("公积金余额怎么查", session), ctx)
    assert first.route == "faq"
    assert "回复 订阅 获取该主题的政策更新（公积金政策）" in _text(first)
    again = await router.dispatch(_turn("公积金余额怎么查", session), ctx)
    assert "回复 订阅" not in _text(again)
    assert "已为您订阅「公积金政策」" in _text(await router.dispatch(_turn("订阅", session), ctx))
    assert port.rows[(OPENID, "gjj")] == "subscribed"


async def test_a_declined_offer_is_never_made_again(ctx: HandlerContext, port: MemorySubscriptions) -> None:
    session = Session(openid=OPENID)
    assert "回复 订阅" in _text(await router.dispatch(_turn("社保卡丢了怎么补办", session), ctx))
    # The citizen asks something else instead (declines), in a later session too.
    await router.dispatch(_turn("谢谢", session), ctx)
    later = Session(openid=OPENID)
    assert "回复 订阅" not in _text(await router.dispatch(_turn("社保卡丢了怎么补办", later), ctx))
    assert port.rows[(OPENID, "sb")] == "offered"


async def test_without_topics_the_verb_is_not_a_command(matcher: Matcher, port: MemorySubscriptions) -> None:
    ctx = HandlerContext(matcher=matcher, flows=None, services=port)  # type: ignore[arg-type]
    result = await router.dispatch(_turn("公积金余额怎么查", Session(openid=OPENID)), ctx)
    assert "回复 订阅" not in _text(result)
    assert port.offers == []


def _click(key: str, session: Session) -> Turn:
    message = EventMessage("gh", OPENID, 1, "event", event="click", event_key=key)
    return Turn(message, session, NOW)


async def test_a_menu_button_subscribes_and_an_empty_one_lists(ctx: HandlerContext, port: MemorySubscriptions) -> None:
    session = Session(openid=OPENID)
    assert "已为您订阅「社保政策」" in _text(await router.dispatch(_click("subscribe:sb", session), ctx))
    assert "· 社保政策" in _text(await router.dispatch(_click("subscribe:", session), ctx))


async def test_unfollowing_ends_every_subscription(ctx: HandlerContext, port: MemorySubscriptions) -> None:
    session = Session(openid=OPENID)
    await router.dispatch(_turn("订阅公积金", session), ctx)
    message = EventMessage("gh", OPENID, 2, "event", event="unsubscribe")
    result = await router.dispatch(Turn(message, session, NOW), ctx)
    assert result.session is None
    assert await port.subscriptions(OPENID) == []
