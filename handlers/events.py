"""Events: follow, unfollow, menu clicks, agent sessions, and the events we acknowledge silently.

Menu click keys (knowledge/menu.yaml; `app.menu` validates them against the prefixes below):
`flow:<id>` starts a flow, `faq:<id>` answers one FAQ entry, `cat:<category>` offers that
category's questions as numbered choices, `handoff` explains how to reach an agent (a click is
an event, and WeChat transfers only messages), `MENU_SERVICES` shows the welcome list. A key a
flow declares in its `triggers.menu` starts that flow too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from handlers import faq, flow, handoff, texts
from handlers import subscribe as topics_chat
from handlers.context import HandlerContext, Turn, TurnResult
from handlers.messages import EventMessage
from handlers.replies import NoReply, TextReply
from handlers.session import ClarifyOption, Session

FLOW_PREFIX = "flow:"
FAQ_PREFIX = "faq:"
CATEGORY_PREFIX = "cat:"
# A menu button subscribing to a topic (`subscribe:gongjijin`); `subscribe:` alone lists 我的订阅 (issue 19).
SUBSCRIBE_PREFIX = "subscribe:"
HANDOFF_KEY = "handoff"
SERVICES_KEY = "MENU_SERVICES"
# Questions listed per page for a category click; more would not fit a phone screen. The rest
# follow on 「更多」, numbered on, and every number shown can be picked.
CATEGORY_LIMIT = 9

CATEGORY_HEAD = "以下是「{category}」类常见问题，回复数字查看答案："
CATEGORY_TAIL = "没有您要找的问题？请直接输入您想咨询的内容。"
CATEGORY_MORE = "（共{total}个问题，回复「更多」查看第{start}-{end}个）"


def welcome_choices() -> list[ClarifyOption]:
    """The services of the welcome menu, by their numbers."""
    return [ClarifyOption(kind="flow", target=flow) for _n, flow, _d in texts.SERVICES]


def welcome_result(turn: Turn) -> TurnResult:
    session = turn.session
    session.choices = welcome_choices()
    return TurnResult(TextReply(texts.welcome()), "menu", session)


def services_result(turn: Turn) -> TurnResult:
    """The list of services for someone who has something to do but has not said what."""
    result = welcome_result(turn)
    lines = [texts.SERVICES_HEAD]
    lines += [f"{i}. {name}：{desc}" for i, (name, _flow, desc) in enumerate(texts.SERVICES, start=1)]
    lines.append(texts.WELCOME_TAIL)
    result.reply = TextReply("\n".join(lines))
    return result


async def subscribe(turn: Turn, ctx: HandlerContext) -> TurnResult:
    return welcome_result(turn)


async def unsubscribe(turn: Turn, ctx: HandlerContext) -> TurnResult:
    # The account must delete the user's data when they unfollow (PROTOCOL.md); an unfollower
    # can receive no push, so their topics end too (counted as unsubscribed in a campaign's reach).
    if ctx.topics is not None and len(ctx.topics):
        await ctx.services.forget_subscriptions(turn.message.from_user)
    return TurnResult(NoReply(), "event", None)


async def click(turn: Turn, ctx: HandlerContext) -> TurnResult:
    assert isinstance(turn.message, EventMessage)
    key = turn.message.event_key.strip()
    # A click is a new request: the previous answer's numbered choices and pages no longer apply.
    turn.session.choices = []
    turn.session.more = []
    result = await _by_key(turn, ctx, key)
    if result is None:
        return TurnResult(TextReply(texts.MENU_UNKNOWN), "menu", turn.session)
    return result


async def kf_create_session(turn: Turn, ctx: HandlerContext) -> TurnResult:
    """An agent picked the user up: keep quiet, also when the session began on WeChat's side."""
    turn.session.handoff_until = handoff.quiet_until(turn, ctx)
    return TurnResult(NoReply(), "event", turn.session)


async def kf_close_session(turn: Turn, ctx: HandlerContext) -> TurnResult:
    turn.session.handoff_until = 0.0
    return TurnResult(NoReply(), "event", turn.session)


async def push_result(turn: Turn, ctx: HandlerContext) -> TurnResult:
    """WeChat reporting how a push went (issue 19): recorded for the reach figure, never answered."""
    assert isinstance(turn.message, EventMessage)
    await ctx.services.record_push_result(turn.message.from_user, turn.message.event, turn.message.extra)
    return TurnResult(NoReply(), "event", turn.session)


async def ignore(turn: Turn, ctx: HandlerContext) -> TurnResult:
    return TurnResult(NoReply(), "event", turn.session)


async def _by_key(turn: Turn, ctx: HandlerContext, key: str) -> TurnResult | None:
    handler = CLICK_HANDLERS.get(key)
    if handler is not None:
        return await handler(turn, ctx)
    if key.startswith(FLOW_PREFIX):
        return await flow.start(turn, ctx, key.removeprefix(FLOW_PREFIX), text="")
    if key.startswith(FAQ_PREFIX):
        return faq.answer_entry(turn, ctx, key.removeprefix(FAQ_PREFIX), via_menu=True)
    if key.startswith(CATEGORY_PREFIX):
        return _category(turn, ctx, key.removeprefix(CATEGORY_PREFIX))
    if key.startswith(SUBSCRIBE_PREFIX):
        topic = key.removeprefix(SUBSCRIBE_PREFIX)
        command = f"{topics_chat.SUBSCRIBE_WORDS[0]}{topic}" if topic else topics_chat.MINE_WORDS[0]
        return await topics_chat.handle(turn, ctx, command)
    declared = ctx.flows.by_menu_key(key) if ctx.flows is not None else None
    if declared is not None:
        return await flow.start(turn, ctx, declared.id, text="")
    return None


def _category(turn: Turn, ctx: HandlerContext, category: str) -> TurnResult | None:
    if ctx.matcher is None:
        return None
    today = turn.now.date()
    # File order: admins put the most asked first.
    entries = [e for e in ctx.matcher.kb.entries if e.category == category and e.is_active(today)]
    if not entries:
        return None
    session = turn.session
    session.choices = [ClarifyOption(kind="faq", target=entry.id) for entry in entries]
    numbered = [f"{i}. {entry.question}" for i, entry in enumerate(entries, start=1)]
    pages = [numbered[i : i + CATEGORY_LIMIT] for i in range(0, len(numbered), CATEGORY_LIMIT)]
    texts_ = []
    for n, page in enumerate(pages):
        lines = [CATEGORY_HEAD.format(category=category)] if n == 0 else []
        lines += page
        if n == 0 and len(pages) > 1:
            start = (n + 1) * CATEGORY_LIMIT + 1
            end = min(len(entries), start + CATEGORY_LIMIT - 1)
            lines.append(CATEGORY_MORE.format(total=len(entries), start=start, end=end))
        else:
            lines.append(CATEGORY_TAIL)
        texts_.append("\n".join(lines))
    # The later pages wait for 「更多」; the menu's numbers stay valid while they are read.
    session.more = texts_[1:]
    return TurnResult(TextReply(texts_[0]), "menu", session)


async def _welcome_click(turn: Turn, ctx: HandlerContext) -> TurnResult:
    return welcome_result(turn)


async def _handoff_click(turn: Turn, ctx: HandlerContext) -> TurnResult:
    return await handoff.request(turn, ctx)


CLICK_HANDLERS: dict[str, Callable[[Turn, HandlerContext], Awaitable[TurnResult]]] = {
    SERVICES_KEY: _welcome_click,
    HANDOFF_KEY: _handoff_click,
}


def new_session(openid: str) -> Session:
    return Session(openid=openid)
