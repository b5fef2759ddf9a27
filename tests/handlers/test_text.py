"""Text turns outside any flow: small talk is answered politely, not logged as unanswered."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from handlers import router
from handlers.context import HandlerContext, Turn
from handlers.messages import TextMessage
from handlers.replies import TextReply
from handlers.session import Session


class _NoServices:
    async def create_ticket(self, flow_id: str, openid: str, fields: object) -> str:
        raise AssertionError("not expected")

    async def call_endpoint(self, name: str, params: object) -> object:
        raise AssertionError("not expected")


def _turn(text: str, session: Session | None = None) -> Turn:
    message = TextMessage("gh", "o_1", 1, "text", msg_id="1", content=text)
    return Turn(message, session or Session(openid="o_1"), datetime(2026, 11, 26, 10, tzinfo=ZoneInfo("Asia/Shanghai")))


CTX = HandlerContext(matcher=None, flows=None, services=_NoServices())  # type: ignore[arg-type]


async def test_thanks_gets_a_polite_answer_and_resets_the_fallback_count() -> None:
    session = Session(openid="o_1", consecutive_fallbacks=2)
    result = await router.dispatch(_turn("谢谢！", session), CTX)
    assert isinstance(result.reply, TextReply) and "不客气" in result.reply.content
    assert result.route != "fallback"
    assert session.consecutive_fallbacks == 0


async def test_a_flow_command_outside_a_flow_shows_the_service_menu() -> None:
    result = await router.dispatch(_turn("重新开始"), CTX)
    assert isinstance(result.reply, TextReply)
    assert "没有正在办理的业务" in result.reply.content and "1. 预约办事" in result.reply.content
    assert result.session is not None and result.session.choices[0].target == "booking"


async def test_asking_whether_a_program_answers_is_told_plainly_with_the_way_to_a_person() -> None:
    result = await router.dispatch(_turn("你们是机器人吗"), CTX)
    assert isinstance(result.reply, TextReply)
    assert result.reply.content.startswith("我是本号的智能客服") and "回复「人工」" in result.reply.content
    assert "1. 预约办事" in result.reply.content and result.route != "fallback"


@pytest.mark.parametrize(
    "said", ["看看菜单", "返回主菜单", "菜单在哪", "给我个菜单", "你刚才说回复数字办理 有哪几个数字来着 再发一遍"]
)
async def test_asking_for_the_menu_in_ones_own_words_shows_it(said: str) -> None:
    result = await router.dispatch(_turn(said), CTX)
    assert isinstance(result.reply, TextReply) and "1. 预约办事" in result.reply.content
    assert result.route != "fallback"


async def test_praise_is_thanked_for_and_not_an_unanswered_question() -> None:
    session = Session(openid="o_1", consecutive_fallbacks=1)
    result = await router.dispatch(_turn("你们效率真高👍", session), CTX)
    assert isinstance(result.reply, TextReply) and "谢谢您的肯定" in result.reply.content
    assert result.route != "fallback"
