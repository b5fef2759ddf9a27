"""Human hand-off: when a user goes to an agent, what they hear outside working hours, and the
quiet spell while an agent owns the conversation.

Three things hand a user over: asking for it (「人工」), a flow escalating after repeated failures
(the flow handler calls `hand_over`), and `fallbacks_before_handoff` consecutive FAQ fallbacks
(`after_fallbacks` wraps the text route). WeChat transfers only user messages, never events, with
a `transfer_customer_service` passive reply; from then on the user's messages go to the agent,
and should any still reach us the bot stays quiet until `kf_close_session` or `quiet_minutes`
(WeChat releases an agent session after 30 minutes without a close; PROTOCOL.md).

Outside working hours nobody would pick the transfer up, so the user is told when agents are
back and offered to leave a message, which is a ticket through the complaint flow.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from flows import calendar, words
from handlers.context import HandlerContext, Turn, TurnMeta, TurnResult
from handlers.messages import EventMessage, UserMessage, user_text
from handlers.replies import NoReply, TextReply, TransferReply
from handlers.session import ClarifyOption

# Leaving a message outside working hours files a ticket through this flow.
LEAVE_MESSAGE_FLOW = "complaint"
# Events that concern the agent session itself, or must act even while an agent owns it.
QUIET_EXEMPT_EVENTS = frozenset({"unsubscribe", "kf_create_session", "kf_close_session", "kf_switch_session"})
SHANGHAI = ZoneInfo("Asia/Shanghai")

OFFLINE = "现在是非工作时间，人工客服的服务时间为{hours}，下次上线时间：{next_opening}。\n"
LEAVE_MESSAGE = "您可以回复「1」留言，我们会在工作时间尽快处理并回复您；也可以继续输入问题，由智能客服为您解答。"
# Without the complaint flow there is nowhere to leave a message.
NO_MESSAGE = "您可以继续输入问题，由智能客服为您解答。"
NOT_FOUND_LEAD = "抱歉，暂时没有找到您要的答案。\n"
# A menu click is an event, and WeChat transfers only messages: ask for one.
ASK_BY_MESSAGE = "如需人工服务，请直接发送「人工」，我们将为您转接人工客服。"
# A transfer exists only as a passive reply; when it missed the deadline, the user is told so.
TRANSFER_MISSED = "抱歉，刚才没能为您接通人工客服，请再发送一次「人工」。"
# The visible line before a transfer: without it the citizen saw nothing and asked 「有人吗」.
TRANSFERRING = "正在为您转接人工客服，请稍候，工作人员接入后会直接回复您。"
TRANSFERRING_WITH_FLOW = "正在为您转接人工客服，请稍候。您刚才填写的内容工作人员都能看到，无需重复说明。"
_WEEKDAYS = "一二三四五六日"


def is_request(command: str) -> bool:
    return words.asks_for_agent(command)


async def request(turn: Turn, ctx: HandlerContext) -> TurnResult:
    """Hand the user to an agent, or, outside working hours, offer to leave a message."""
    return hand_over(turn, ctx)


Handler = Callable[[Turn, HandlerContext], Awaitable[TurnResult]]


def after_fallbacks(handler: Handler) -> Handler:
    """Wrap the text route: the Nth consecutive fallback hands the user over instead."""

    async def handle(turn: Turn, ctx: HandlerContext) -> TurnResult:
        result = await handler(turn, ctx)
        limit = ctx.handoff.fallbacks_before_handoff
        session = result.session
        if result.route != "fallback" or limit <= 0 or session is None:
            return result
        if session.consecutive_fallbacks < limit:
            return result
        return hand_over(dataclasses.replace(turn, session=session), ctx, lead=NOT_FOUND_LEAD)

    return handle


def agent_owns(turn: Turn) -> bool:
    """An agent has the conversation: the bot says nothing (the router's first route).

    Two things still pass: the exempt events, and an explicit 「人工」. While an agent session is
    really open WeChat sends the user's messages to the agent, so a request reaching us means the
    transfer did not take (queue dropped, or the transfer reply missed the deadline): transfer again.
    """
    if turn.session.handoff_until <= turn.now.timestamp():
        return False
    message = turn.message
    if isinstance(message, EventMessage):
        return message.event not in QUIET_EXEMPT_EVENTS
    typed = user_text(message)
    return typed is None or not is_request(typed.strip().strip("。.!！?？ ").lower())


async def quiet(turn: Turn, ctx: HandlerContext) -> TurnResult:
    return TurnResult(NoReply(), "quiet", turn.session)


def quiet_until(turn: Turn, ctx: HandlerContext) -> float:
    """Epoch seconds until which the bot stays quiet after a transfer or an agent joining."""
    return turn.now.timestamp() + ctx.handoff.quiet_minutes * 60


def hand_over(turn: Turn, ctx: HandlerContext, *, lead: str = "", meta: TurnMeta | None = None) -> TurnResult:
    """`request` for callers that are not async, such as a flow escalating after failed attempts.

    `lead` goes before the after-hours text; `meta` (e.g. the flow's) is kept, `handoff` set.
    """
    meta = meta if meta is not None else TurnMeta()
    session = turn.session
    # Whatever happens next, the run of unanswered questions has been dealt with.
    session.consecutive_fallbacks = 0
    now = turn.now.astimezone(SHANGHAI)
    if not in_service(now, ctx.handoff.hours):
        text = lead + OFFLINE.format(
            hours=describe_hours(ctx.handoff.hours), next_opening=_describe_opening(now, ctx.handoff.hours)
        )
        if ctx.flows is not None and LEAVE_MESSAGE_FLOW in ctx.flows:
            session.choices = [ClarifyOption(kind="flow", target=LEAVE_MESSAGE_FLOW)]
            text += LEAVE_MESSAGE
        else:
            text += NO_MESSAGE
        return TurnResult(TextReply(text), "handoff", session, meta)
    if not isinstance(turn.message, UserMessage):
        return TurnResult(TextReply(ASK_BY_MESSAGE), "handoff", session, meta)
    # A flow in progress is kept: what the citizen entered stays (the desk shows the agent the
    # consultation's turns) and the flow can go on once the agent is done. Menus would be stale.
    notice = TRANSFERRING_WITH_FLOW if session.flow is not None else TRANSFERRING
    session.choices = []
    session.more = []
    session.handoff_until = quiet_until(turn, ctx)
    meta.handoff = True
    return TurnResult(TransferReply(ctx.handoff.agent_account or None, notice), "handoff", session, meta)


# -- working hours -------------------------------------------------------------------------


@lru_cache(maxsize=8)
def parse_hours(spec: str) -> tuple[time, time] | None:
    """`"09:00-17:30"` → (09:00, 17:30); empty → None (agents always available).

    Raises ValueError naming the problem; the app calls this at start-up to validate settings.
    """
    spec = spec.strip()
    if not spec:
        return None
    try:
        start_text, end_text = spec.split("-")
        start = time.fromisoformat(start_text.strip())
        end = time.fromisoformat(end_text.strip())
    except ValueError as exc:
        raise ValueError(f"service hours {spec!r} must look like 09:00-17:30") from exc
    if end <= start:
        raise ValueError(f"service hours {spec!r}: the end must be after the start")
    return start, end


def is_working_day(day: date) -> bool:
    """A working day by the office calendar (flows.calendar): weekends, holidays and make-up days."""
    return calendar.active().is_open(day)


def calendar_covers(year: int) -> bool:
    """Whether the State Council's schedule for `year` is in the calendar file."""
    return calendar.active().published(year)


def in_service(now: datetime, spec: str) -> bool:
    window = parse_hours(spec)
    if window is None:
        return True
    local = now.astimezone(SHANGHAI)
    start, end = window
    return is_working_day(local.date()) and start <= local.time() < end


def next_opening(now: datetime, spec: str) -> datetime | None:
    """When agents are next available (now or later), within the coming month; None if unknown."""
    window = parse_hours(spec)
    if window is None:
        return now
    local = now.astimezone(SHANGHAI)
    start, end = window
    for offset in range(31):
        day = local.date() + timedelta(days=offset)
        if not is_working_day(day):
            continue
        opening = datetime.combine(day, start, tzinfo=SHANGHAI)
        closing = datetime.combine(day, end, tzinfo=SHANGHAI)
        if local < closing:
            return max(opening, local)
    return None


def describe_hours(spec: str) -> str:
    window = parse_hours(spec)
    if window is None:
        return "全天"
    start, end = window
    return f"工作日 {start:%H:%M}-{end:%H:%M}"


def _describe_opening(now: datetime, spec: str) -> str:
    opening = next_opening(now, spec)
    if opening is None:
        return "请留意本号通知"
    days = (opening.date() - now.date()).days
    day = {0: "今天", 1: "明天", 2: "后天"}.get(days, f"{opening.month}月{opening.day}日")
    return f"{day}（周{_WEEKDAYS[opening.weekday()]}）{opening:%H:%M}"
