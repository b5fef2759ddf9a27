"""Hand-off: transfer in working hours, a message offered outside them, quiet while an agent owns it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from flows.registry import FlowRegistry, load_flows
from flows.state import FlowState
from handlers import handoff, router
from handlers.context import HandlerContext, HandoffConfig, Turn, TurnResult
from handlers.messages import EventMessage, Inbound, LocationMessage, TextMessage
from handlers.ports import EndpointResult
from handlers.replies import NoReply, TextReply, TransferReply
from handlers.session import ClarifyOption, Session

OPENID = "o_handoff_user"
SHANGHAI = handoff.SHANGHAI
THURSDAY_10AM = datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)
THURSDAY_8PM = datetime(2026, 11, 26, 20, 0, tzinfo=SHANGHAI)


class NoServices:
    async def create_ticket(self, flow_id: str, openid: str, fields: Mapping[str, str]) -> str:
        raise AssertionError("hand-off creates no tickets itself")

    async def call_endpoint(self, name: str, params: Mapping[str, str]) -> EndpointResult:
        raise AssertionError("hand-off calls no endpoints")


SAMPLE_FLOWS = load_flows(Path(__file__).resolve().parents[2] / "flows")


def context(
    hours: str = "09:00-17:30",
    agent: str | None = None,
    fallbacks: int = 3,
    flows: FlowRegistry | None = SAMPLE_FLOWS,
) -> HandlerContext:
    config = HandoffConfig(agent_account=agent, hours=hours, fallbacks_before_handoff=fallbacks)
    return HandlerContext(matcher=None, flows=flows, services=NoServices(), handoff=config)


def text(content: str) -> TextMessage:
    return TextMessage(to_user="gh_test", from_user=OPENID, create_time=1, msg_type="text", content=content)


def event(name: str, key: str = "") -> EventMessage:
    return EventMessage(
        to_user="gh_test", from_user=OPENID, create_time=1, msg_type="event", event=name, event_key=key
    )


def turn(message: Inbound, now: datetime = THURSDAY_10AM, session: Session | None = None) -> Turn:
    return Turn(message=message, session=session or Session(openid=OPENID), now=now)


# -- asking for an agent -------------------------------------------------------------------


async def test_request_in_working_hours_transfers_to_the_configured_agent() -> None:
    result = await handoff.request(turn(text("人工")), context(agent="kf2001@gh_test"))
    assert isinstance(result.reply, TransferReply) and result.reply.kf_account == "kf2001@gh_test"
    assert result.reply.notice == handoff.TRANSFERRING
    assert result.route == "handoff"
    assert result.meta.handoff is True


async def test_request_without_an_agent_account_transfers_to_any_agent() -> None:
    result = await handoff.request(turn(text("人工")), context(agent=""))
    assert isinstance(result.reply, TransferReply) and result.reply.kf_account is None


async def test_transfer_keeps_the_bot_quiet_for_the_configured_minutes() -> None:
    result = await handoff.request(turn(text("人工")), context())
    assert result.session is not None
    assert result.session.handoff_until == (THURSDAY_10AM + timedelta(minutes=30)).timestamp()


async def test_transfer_keeps_a_flow_in_progress_and_says_so() -> None:
    flow = FlowState(flow_id="booking", version="1", step="date")
    session = Session(openid=OPENID, flow=flow)
    result = await handoff.request(turn(text("人工"), session=session), context())
    assert result.session is not None
    assert result.session.flow == flow
    assert isinstance(result.reply, TransferReply) and result.reply.notice == handoff.TRANSFERRING_WITH_FLOW


async def test_request_after_hours_tells_when_agents_are_back_and_offers_a_message() -> None:
    result = await handoff.request(turn(text("人工"), now=THURSDAY_8PM), context())
    assert isinstance(result.reply, TextReply)
    assert "工作日 09:00-17:30" in result.reply.content
    assert "明天（周五）09:00" in result.reply.content
    assert result.session is not None
    assert result.session.choices == [ClarifyOption(kind="flow", target=handoff.LEAVE_MESSAGE_FLOW)]
    assert result.session.handoff_until == 0.0
    assert result.meta.handoff is False


async def test_after_hours_without_a_complaint_flow_offers_no_message() -> None:
    result = await handoff.request(turn(text("人工"), now=THURSDAY_8PM), context(flows=None))
    assert isinstance(result.reply, TextReply)
    assert result.reply.content.endswith(handoff.NO_MESSAGE)
    assert result.session is not None
    assert result.session.choices == []


async def test_request_on_a_public_holiday_is_after_hours() -> None:
    national_day = datetime(2026, 10, 1, 10, 0, tzinfo=SHANGHAI)
    result = await handoff.request(turn(text("人工"), now=national_day), context())
    assert isinstance(result.reply, TextReply)
    assert "10月8日（周四）09:00" in result.reply.content


async def test_request_on_a_make_up_saturday_is_in_working_hours() -> None:
    make_up_day = datetime(2026, 10, 10, 10, 0, tzinfo=SHANGHAI)
    result = await handoff.request(turn(text("人工"), now=make_up_day), context())
    assert isinstance(result.reply, TransferReply)


async def test_empty_hours_means_agents_are_always_available() -> None:
    sunday_night = datetime(2026, 11, 29, 3, 0, tzinfo=SHANGHAI)
    result = await handoff.request(turn(text("人工"), now=sunday_night), context(hours=""))
    assert isinstance(result.reply, TransferReply)


async def test_hours_are_judged_in_shanghai_time() -> None:
    ten_in_shanghai = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
    result = await handoff.request(turn(text("人工"), now=ten_in_shanghai), context())
    assert isinstance(result.reply, TransferReply)


async def test_an_event_is_never_transferred() -> None:
    result = await handoff.request(turn(event("click", "handoff")), context())
    assert result.reply == TextReply(handoff.ASK_BY_MESSAGE)


# -- repeated fallbacks --------------------------------------------------------------------


def falling_back(count: int) -> handoff.Handler:
    """A text handler that falls back, as the FAQ handler does, counting `count` in a row."""

    async def handle(t: Turn, ctx: HandlerContext) -> TurnResult:
        t.session.consecutive_fallbacks = count
        return TurnResult(TextReply("没有找到答案"), "fallback", t.session)

    return handle


async def test_the_nth_consecutive_fallback_hands_the_user_over() -> None:
    result = await handoff.after_fallbacks(falling_back(3))(turn(text("乱七八糟")), context(fallbacks=3))
    assert isinstance(result.reply, TransferReply)
    assert result.session is not None
    assert result.session.consecutive_fallbacks == 0


async def test_fewer_fallbacks_keep_the_fallback_answer() -> None:
    result = await handoff.after_fallbacks(falling_back(2))(turn(text("乱七八糟")), context(fallbacks=3))
    assert result.reply == TextReply("没有找到答案")


async def test_a_zero_limit_never_hands_over_on_fallbacks() -> None:
    result = await handoff.after_fallbacks(falling_back(9))(turn(text("乱七八糟")), context(fallbacks=0))
    assert result.route == "fallback"


async def test_repeated_fallbacks_after_hours_apologise_and_offer_a_message() -> None:
    wrapped = handoff.after_fallbacks(falling_back(3))
    result = await wrapped(turn(text("乱七八糟"), now=THURSDAY_8PM), context(fallbacks=3))
    assert isinstance(result.reply, TextReply)
    assert result.reply.content.startswith(handoff.NOT_FOUND_LEAD)
    assert result.session is not None
    assert result.session.consecutive_fallbacks == 0


# -- while an agent owns the conversation ---------------------------------------------------


def owned_session(minutes_left: float = 10) -> Session:
    until = (THURSDAY_10AM + timedelta(minutes=minutes_left)).timestamp()
    return Session(openid=OPENID, handoff_until=until)


async def test_messages_while_an_agent_owns_the_conversation_get_silence() -> None:
    result = await router.dispatch(turn(text("你好"), session=owned_session()), context())
    assert result.reply == NoReply()
    assert result.route == "quiet"


async def test_clicks_while_an_agent_owns_the_conversation_get_silence() -> None:
    result = await router.dispatch(turn(event("click", "MENU_SERVICES"), session=owned_session()), context())
    assert result.route == "quiet"


async def test_asking_for_an_agent_again_while_quiet_transfers_again() -> None:
    result = await router.dispatch(turn(text("人工！"), session=owned_session()), context())
    assert isinstance(result.reply, TransferReply)


async def test_quiet_ends_when_the_window_has_passed() -> None:
    result = await router.dispatch(turn(text("你好"), session=owned_session(minutes_left=-1)), context())
    assert result.route != "quiet"


async def test_unsubscribe_while_quiet_still_deletes_the_session() -> None:
    result = await router.dispatch(turn(event("unsubscribe"), session=owned_session()), context())
    assert result.session is None


async def test_agent_closing_the_session_ends_the_quiet() -> None:
    closed = await router.dispatch(turn(event("kf_close_session"), session=owned_session()), context())
    assert closed.reply == NoReply()
    assert closed.session is not None
    after = await router.dispatch(turn(text("你好"), session=closed.session), context())
    assert after.route != "quiet"


async def test_agent_joining_starts_the_quiet() -> None:
    joined = await router.dispatch(turn(event("kf_create_session")), context())
    assert joined.session is not None
    later = turn(text("你好"), now=THURSDAY_10AM + timedelta(minutes=29), session=joined.session)
    assert (await router.dispatch(later, context())).route == "quiet"


async def test_asking_for_an_agent_through_the_router_transfers() -> None:
    result = await router.dispatch(turn(text("转人工")), context())
    assert isinstance(result.reply, TransferReply)


@pytest.mark.parametrize(
    "said",
    [
        "有人吗 我要找人工",
        "能不能转人工啊",
        "给我转个真人",
        "麻烦帮我联系一下客服",
        "我要人工服务！",
        # The person named without 人工, or the program declined.
        "能不能找个工作人员跟我说",
        "叫你们值班的人来",
        "有没有活人",
        "我想和真人聊",
        "麻烦让窗口的同志回我一下",
        "不想跟机器说了",
        "找个懂的人跟我说",
        "能给我回个电话吗",
        "有没有人能帮我",
        "来个人回我一下",
        # Asked for among other words.
        "这机器人太笨了 能找个真人吗",
        "有没有在线的工作人员",
        "能不能和工作人员直接沟通一下我的问题",
        "说了半天你也不懂，让个真人来",
        "我需要人工帮助",
        "工作人员在吗",
        # Cantonese, typed in traditional characters.
        "有冇真人客服呀 我想同工作人員講",
        "有没有人工服务啊，我的问题比较复杂，一两句说不清",
        "能不能帮我转接一下工作人员，我的情况比较复杂",
    ],
)
async def test_asking_for_an_agent_in_ones_own_words_transfers(said: str) -> None:
    result = await router.dispatch(turn(text(said)), context())
    assert isinstance(result.reply, TransferReply)


@pytest.mark.parametrize(
    "said",
    [
        "我要投诉你们的人工客服态度差",
        "人工客服几点上班",
        "人工授精医保能报吗",
        "同志你好",
        "你们领导是谁",
        "客服电话多少",
        "有没有人办过居住证",
        "能打电话预约吗",
        "我想找个人代办",
        "我跟工作人员说了三次了",
        "请工作人员帮忙办理需要预约吗",
    ],
)
def test_a_sentence_about_agents_is_not_a_request_for_one(said: str) -> None:
    assert not handoff.is_request(said)


@pytest.mark.parametrize(
    "message",
    [
        event("click", "handoff"),
        event("subscribe"),
        event("kf_create_session"),
        event("location"),
        LocationMessage(to_user="gh_test", from_user=OPENID, create_time=1, msg_type="location"),
    ],
)
async def test_only_text_is_ever_transferred(message: Inbound) -> None:
    session = Session(openid=OPENID, consecutive_fallbacks=5)
    result = await router.dispatch(turn(message, session=session), context(fallbacks=1))
    assert not isinstance(result.reply, TransferReply)


# -- working-hours rules -------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["9-5", "17:30-09:00", "09:00", "上午"])
def test_malformed_hours_are_refused_with_a_reason(spec: str) -> None:
    with pytest.raises(ValueError, match="service hours"):
        handoff.parse_hours(spec)


def test_years_without_a_published_schedule_close_weekends_and_statutory_holidays() -> None:
    assert handoff.calendar_covers(2099) is False
    assert handoff.is_working_day(date(2099, 1, 5)) is True  # a Monday
    assert handoff.is_working_day(date(2099, 1, 3)) is False  # a Saturday
    assert handoff.is_working_day(date(2099, 1, 1)) is False  # 元旦, a Thursday
