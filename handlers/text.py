"""Text turns (typed, or voice recognised): paging, numbered choices, flows, FAQ — in that order."""

from __future__ import annotations

from handlers import faq, flow, followup, handoff, texts
from handlers.context import HandlerContext, Turn, TurnResult
from handlers.events import welcome_result
from handlers.messages import user_text
from handlers.paging import MORE_WORDS, next_page
from handlers.replies import TextReply


def _normalised_command(text: str) -> str:
    return text.strip().strip("。.!！?？ ").lower()


async def handle(turn: Turn, ctx: HandlerContext) -> TurnResult:
    text = user_text(turn.message) or ""
    session = turn.session
    command = _normalised_command(text)

    if command in MORE_WORDS:
        if not session.more:
            return TurnResult(TextReply(texts.NO_MORE), "more", session)
        page, session.more = next_page(session.more)
        return TurnResult(TextReply(page), "more", session)
    # Any other message drops the pages of the previous answer.
    session.more = []

    if handoff.is_request(command):
        return await handoff.request(turn, ctx)
    # Our own numbers, 「我的预约」, 「取消预约」, 「改约」 and the exchanges they start (issue 18).
    followed = await followup.handle(turn, ctx, text)
    if followed is not None:
        return followed

    choices = session.choices
    session.choices = []
    if choices and command.isdigit() and 1 <= int(command) <= len(choices):
        picked = choices[int(command) - 1]
        if picked.kind == "faq":
            # A menu offered mid-flow: after the answer, the flow's question again.
            return flow.resume(turn, ctx, faq.answer_entry(turn, ctx, picked.target, via_menu=True))
        if picked.kind == "flow":
            result = await flow.start(turn, ctx, picked.target, text="")
            if result is not None:
                return result
    if session.flow is not None:
        result = await flow.continue_(turn, ctx, text, choices)
        if result is not None:
            return result
    result = await flow.maybe_start(turn, ctx, text)
    if result is not None:
        return result
    small_talk = _small_talk(turn, command)
    if small_talk is not None:
        return small_talk
    return await faq.handle(turn, ctx, text)


def _small_talk(turn: Turn, command: str) -> TurnResult | None:
    """Thanks and flow commands said outside a flow: a polite answer, not an FAQ miss.

    Counting these as unanswered questions would also push the user towards a hand-off
    (N consecutive fallbacks) for saying 谢谢.
    """
    if command in texts.THANKS_WORDS:
        turn.session.consecutive_fallbacks = 0
        return TurnResult(TextReply(texts.YOU_ARE_WELCOME), "menu", turn.session)
    if command in texts.NO_FLOW_COMMANDS:
        result = welcome_result(turn)
        result.reply = TextReply(texts.NOTHING_TO_LEAVE + "\n" + texts.welcome())
        return result
    return None
