"""The router: one ordered table that decides which handler answers a turn.

Order matters and is read top to bottom; the first route whose predicate holds answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from handlers import events, handoff, media, text
from handlers.context import HandlerContext, Turn, TurnResult
from handlers.messages import EventMessage, VoiceMessage, user_text
from handlers.paging import paginate

Predicate = Callable[[Turn], bool]
Handler = Callable[[Turn, HandlerContext], Awaitable[TurnResult]]


@dataclass(frozen=True, slots=True)
class RouteEntry:
    name: str
    when: Predicate
    handler: Handler


def _event(*names: str) -> Predicate:
    return lambda turn: isinstance(turn.message, EventMessage) and turn.message.event in names


def _has_text(turn: Turn) -> bool:
    return user_text(turn.message) is not None


def _empty_voice(turn: Turn) -> bool:
    return isinstance(turn.message, VoiceMessage) and user_text(turn.message) is None


def _any_event(turn: Turn) -> bool:
    return isinstance(turn.message, EventMessage)


def _always(turn: Turn) -> bool:
    return True


ROUTES: list[RouteEntry] = [
    # WeChat's reports on our pushes (issue 19): recorded even while an agent owns the chat.
    RouteEntry(
        "push_result", _event("masssendjobfinish", "templatesendjobfinish", "subscribe_msg_sent_event"),
        events.push_result,
    ),
    # An agent owns the conversation: say nothing (unsubscribe and kf_* events pass through).
    RouteEntry("quiet", handoff.agent_owns, handoff.quiet),
    RouteEntry("unsubscribe", _event("unsubscribe"), events.unsubscribe),
    RouteEntry("subscribe", _event("subscribe"), events.subscribe),
    RouteEntry("scan", _event("scan"), events.subscribe),
    RouteEntry("click", _event("click"), events.click),
    RouteEntry("kf_create", _event("kf_create_session", "kf_switch_session"), events.kf_create_session),
    RouteEntry("kf_close", _event("kf_close_session"), events.kf_close_session),
    RouteEntry("other_event", _any_event, events.ignore),
    # The Nth consecutive FAQ fallback hands the user to an agent instead.
    RouteEntry("text", _has_text, handoff.after_fallbacks(text.handle)),
    RouteEntry("voice_empty", _empty_voice, media.voice_empty),
    RouteEntry("media", _always, media.reply),
]


async def dispatch(turn: Turn, ctx: HandlerContext) -> TurnResult:
    for route in ROUTES:
        if route.when(turn):
            return paginate(await route.handler(turn, ctx))
    raise AssertionError("the last route matches every turn")


