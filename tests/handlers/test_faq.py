"""FAQ turns: the answer, the 「您是不是想问」 menu and the fallback, with their session bookkeeping."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from flows.utterance import Utterance, understand
from handlers import faq, router
from handlers.context import HandlerContext, Turn, TurnResult
from handlers.messages import TextMessage
from handlers.ports import EndpointResult
from handlers.replies import TextReply
from handlers.session import ClarifyOption, Session
from knowledge.matcher import Matcher
from tests.knowledge.conftest import BASIC

OPENID = "o_faq_user"
# Within the fixture's 2024 subsidy entry validity, and after it.
JUNE_2024 = datetime(2024, 6, 3, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
JAN_2025 = datetime(2025, 1, 6, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


class NoServices:
    async def create_ticket(self, flow_id: str, openid: str, fields: Mapping[str, str]) -> str:
        raise AssertionError("FAQ turns create no tickets")

    async def call_endpoint(self, name: str, params: Mapping[str, str]) -> EndpointResult:
        raise AssertionError("FAQ turns call no endpoints")


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher.from_directory(BASIC)


@pytest.fixture
def ctx(matcher: Matcher) -> HandlerContext:
    return HandlerContext(matcher=matcher, flows=None, services=NoServices())


def said(text: str) -> Utterance:
    return understand(text, JUNE_2024.date())


def turn(text: str, session: Session | None = None, now: datetime = JUNE_2024) -> Turn:
    message = TextMessage(to_user="gh_test", from_user=OPENID, create_time=1, msg_type="text", content=text)
    return Turn(message=message, session=session or Session(openid=OPENID), now=now)


def reply_text(result: TurnResult) -> str:
    assert isinstance(result.reply, TextReply)
    return result.reply.content


async def test_a_confident_match_is_answered_with_the_entry_text(ctx: HandlerContext, matcher: Matcher) -> None:
    session = Session(openid=OPENID, consecutive_fallbacks=2)
    result = await faq.handle(turn("社保卡丢了怎么补办", session), ctx, said("社保卡丢了怎么补办"))
    entry = matcher.entry("sb-card-lost")
    assert entry is not None
    assert (result.route, reply_text(result)) == ("faq", entry.answer)
    assert result.meta.faq_id == "sb-card-lost" and result.meta.score is not None and result.meta.score > 0.5
    assert result.session is not None
    assert (result.session.last_faq_id, result.session.consecutive_fallbacks) == ("sb-card-lost", 0)


async def test_a_close_call_offers_a_numbered_menu(ctx: HandlerContext) -> None:
    result = await faq.handle(turn("公积金"), ctx, said("公积金"))
    assert result.route == "clarify"
    lines = reply_text(result).split("\n")
    assert lines[0] == "您是不是想问：" and lines[-1] == "请回复数字"
    assert [line[:3] for line in lines[1:-1]] == ["1. ", "2. ", "3. "]
    assert result.session is not None
    assert [c.kind for c in result.session.choices] == ["faq"] * 3
    assert {c.target for c in result.session.choices} == {"gjj-balance", "gjj-loan", "gjj-withdraw-rent"}


async def test_replying_a_digit_after_the_menu_answers_that_entry(ctx: HandlerContext, matcher: Matcher) -> None:
    first = await router.dispatch(turn("公积金"), ctx)
    assert first.route == "clarify" and first.session is not None
    picked = first.session.choices[1].target
    second = await router.dispatch(turn("2", first.session), ctx)
    entry = matcher.entry(picked)
    assert entry is not None
    assert second.route == "faq" and second.meta.faq_id == picked
    # The chosen question is repeated so the user sees what they picked.
    assert reply_text(second) == f"【{entry.question}】\n{entry.answer}"
    assert second.session is not None and second.session.choices == []


async def test_nothing_fitting_falls_back_with_ways_forward(ctx: HandlerContext) -> None:
    result = await faq.handle(turn("明天会不会下雨"), ctx, said("明天会不会下雨"))
    text = reply_text(result)
    assert result.route == "fallback"
    assert "换个说法" in text and "「菜单」" in text and "「人工」" in text
    assert result.session is not None and result.session.consecutive_fallbacks == 1


async def test_consecutive_fallbacks_are_counted(ctx: HandlerContext) -> None:
    session = Session(openid=OPENID, consecutive_fallbacks=1)
    result = await faq.handle(turn("明天会不会下雨", session), ctx, said("明天会不会下雨"))
    assert result.session is not None and result.session.consecutive_fallbacks == 2


async def test_without_a_knowledge_base_the_user_is_told_and_pointed_to_an_agent() -> None:
    ctx = HandlerContext(matcher=None, flows=None, services=NoServices())
    result = await faq.handle(turn("社保卡丢了"), ctx, said("社保卡丢了"))
    assert result.route == "fallback" and "「人工」" in reply_text(result)


async def test_typing_menu_shows_the_service_list(ctx: HandlerContext) -> None:
    result = await faq.handle(turn("菜单"), ctx, said("菜单"))
    assert result.route == "menu"
    assert result.session is not None and all(c.kind == "flow" for c in result.session.choices)


def test_answer_entry_without_the_menu_gives_the_bare_answer(ctx: HandlerContext, matcher: Matcher) -> None:
    result = faq.answer_entry(turn("x"), ctx, "gjj-balance", via_menu=False)
    entry = matcher.entry("gjj-balance")
    assert entry is not None and reply_text(result) == entry.answer
    assert result.meta.faq_id == "gjj-balance" and result.meta.score is None


def test_a_menu_choice_that_has_since_expired_is_not_answered(ctx: HandlerContext) -> None:
    session = Session(openid=OPENID, choices=[ClarifyOption(kind="faq", target="sb-2024-subsidy")])
    result = faq.answer_entry(turn("1", session, now=JAN_2025), ctx, "sb-2024-subsidy", via_menu=True)
    assert result.route == "fallback" and result.meta.faq_id == ""


def test_a_disabled_or_unknown_entry_is_not_answered(ctx: HandlerContext) -> None:
    for faq_id in ("sb-retired", "no-such-entry"):
        result = faq.answer_entry(turn("1"), ctx, faq_id, via_menu=True)
        assert result.route == "fallback"


async def test_every_number_the_fallback_shows_does_what_it_says(ctx: HandlerContext) -> None:
    fell = await router.dispatch(turn("明天会不会下雨"), ctx)
    assert fell.route == "fallback" and fell.session is not None
    session = fell.session
    rephrase = await router.dispatch(turn("1", session.model_copy(deep=True)), ctx)
    assert "换个说法" in reply_text(rephrase) and rephrase.route != "fallback"
    menu = await router.dispatch(turn("2", session.model_copy(deep=True)), ctx)
    assert "1. 预约办事" in reply_text(menu) and menu.route == "menu"
    human = await router.dispatch(turn("3", session.model_copy(deep=True)), ctx)
    assert human.route == "handoff"


async def test_a_number_beyond_the_menu_shows_the_menu_again(ctx: HandlerContext) -> None:
    first = await router.dispatch(turn("公积金"), ctx)
    assert first.session is not None and len(first.session.choices) == 3
    again = await router.dispatch(turn("4", first.session), ctx)
    text = reply_text(again)
    assert text.startswith("请回复 1 到 3 之间的数字") and "3. " in text
    assert again.route != "fallback" and again.session is not None and len(again.session.choices) == 3


async def test_an_ordinal_picks_from_the_menu(ctx: HandlerContext, matcher: Matcher) -> None:
    first = await router.dispatch(turn("公积金"), ctx)
    assert first.session is not None
    picked = first.session.choices[0].target
    second = await router.dispatch(turn("第一个", first.session), ctx)
    assert second.route == "faq" and second.meta.faq_id == picked


@pytest.mark.parametrize("said", ["好的", "确认", "算了", "你好", "hello", "👍", "嗯嗯"])
async def test_small_talk_is_not_an_faq_miss_nor_a_guessed_menu(ctx: HandlerContext, said: str) -> None:
    session = Session(openid=OPENID, consecutive_fallbacks=1)
    result = await router.dispatch(turn(said, session), ctx)
    assert result.route not in ("fallback", "clarify", "faq")
    assert "您是不是想问" not in reply_text(result) and "没有找到" not in reply_text(result)
    # Neither counted as unanswered nor towards the automatic hand-off.
    assert result.session is not None and result.session.consecutive_fallbacks == 1


@pytest.mark.parametrize("said", ["有事想办一下", "我想问点事", "你们能干啥"])
async def test_a_vague_opener_gets_the_list_of_services(ctx: HandlerContext, said: str) -> None:
    result = await router.dispatch(turn(said), ctx)
    assert result.route == "menu" and "1. 预约办事" in reply_text(result)
    assert result.session is not None and [c.kind for c in result.session.choices] == ["flow"] * 4


async def test_an_emoji_gets_a_smile_and_numbered_services_so_a_number_works_next(ctx: HandlerContext) -> None:
    smiled = await router.dispatch(turn("🙂"), ctx)
    assert "1. 预约办事" in reply_text(smiled) and smiled.session is not None
    picked = await router.dispatch(turn("2", smiled.session), ctx)
    assert picked.route != "fallback"


@pytest.mark.parametrize("said", ["13911112222", "139 1111 2222", "6222021234567890"])
async def test_a_number_alone_is_not_matched_to_faq_entries(ctx: HandlerContext, said: str) -> None:
    result = await router.dispatch(turn(said), ctx)
    assert result.route == "clarify" and "单独的号码" in reply_text(result)
    assert result.session is not None and result.session.consecutive_fallbacks == 0


async def _after_answer(ctx: HandlerContext, first: str, then: str, *, later_s: float = 60) -> TurnResult:
    answered = await faq.handle(turn(first), ctx, said(first))
    assert answered.route == "faq" and answered.session is not None
    return await faq.handle(turn(then, answered.session, JUNE_2024 + timedelta(seconds=later_s)), ctx, said(then))


async def test_a_short_follow_up_without_its_subject_is_read_after_the_answer_before(ctx: HandlerContext) -> None:
    # 「补办要钱不」 alone is unclear; after the lost-card answer it asks about that answer's fee.
    result = await _after_answer(ctx, "社保卡丢了怎么补办", "补办要钱不")
    assert (result.route, result.meta.faq_id) == ("faq", "sb-card-lost")


async def test_a_follow_up_sharing_no_word_with_that_answer_is_not_tied_to_it(ctx: HandlerContext) -> None:
    result = await _after_answer(ctx, "社保卡丢了怎么补办", "今天下雨吗")
    assert result.route == "fallback"


async def test_context_expires_and_does_not_reach_long_messages(ctx: HandlerContext, matcher: Matcher) -> None:
    stale = await _after_answer(ctx, "社保卡丢了怎么补办", "补办要钱不", later_s=faq.FOLLOW_UP_WINDOW_S + 1)
    assert stale.route != "faq"
    long = "补办要钱不" + "，" * 2 + "我想再确认一下是不是真的要钱"
    assert matcher.match(long, JUNE_2024.date()).decision != "answer"
    assert (await _after_answer(ctx, "社保卡丢了怎么补办", long)).route != "faq"
