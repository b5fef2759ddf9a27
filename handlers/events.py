"""Events: follow, unfollow, menu clicks and the events we acknowledge silently."""

from __future__ import annotations

from handlers import texts
from handlers.context import HandlerContext, Turn, TurnResult
from handlers.messages import EventMessage
from handlers.replies import NoReply, TextReply
from handlers.session import ClarifyOption, Session


def welcome_result(turn: Turn) -> TurnResult:
    session = turn.session
    session.choices = [ClarifyOption(kind="flow", target=flow) for _n, flow, _d in texts.SERVICES]
    return TurnResult(TextReply(texts.welcome()), "menu", session)


async def subscribe(turn: Turn, ctx: HandlerContext) -> TurnResult:
    return welcome_result(turn)


async def unsubscribe(turn: Turn, ctx: HandlerContext) -> TurnResult:
    # The account must delete the user's data when they unfollow (PROTOCOL.md).
    return TurnResult(NoReply(), "event", None)


async def click(turn: Turn, ctx: HandlerContext) -> TurnResult:
    assert isinstance(turn.message, EventMessage)
    handler = CLICK_HANDLERS.get(turn.message.event_key)
    if handler is None:
        return TurnResult(TextReply(texts.MENU_UNKNOWN), "menu", turn.session)
    return await handler(turn, ctx)


async def ignore(turn: Turn, ctx: HandlerContext) -> TurnResult:
    return TurnResult(NoReply(), "event", turn.session)


async def _welcome_click(turn: Turn, ctx: HandlerContext) -> TurnResult:
    return welcome_result(turn)


# Menu keys → handlers. Flow and FAQ keys are added from knowledge/menu.yaml (issue 6).
CLICK_HANDLERS = {
    "MENU_SERVICES": _welcome_click,
}


def new_session(openid: str) -> Session:
    return Session(openid=openid)
