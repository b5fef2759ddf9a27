"""FAQ turns: answer, clarify with a numbered menu, or fall back (issue 3 fills this in)."""

from __future__ import annotations

from handlers import texts
from handlers.context import HandlerContext, Turn, TurnResult
from handlers.replies import TextReply


async def handle(turn: Turn, ctx: HandlerContext, text: str) -> TurnResult:
    return TurnResult(TextReply(texts.NOT_YET), "fallback", turn.session)


def answer_entry(turn: Turn, ctx: HandlerContext, faq_id: str, *, via_menu: bool) -> TurnResult:
    return TurnResult(TextReply(texts.NOT_YET), "fallback", turn.session)
