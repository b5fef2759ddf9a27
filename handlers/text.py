"""Text turns (typed, or voice recognised): paging, numbered choices, flows, small talk, FAQ — in that order.

The message is read once, here, into an `Utterance` (flows.utterance): every later decision —
which flow it asks for, whether it answers the flow in progress, whether it is small talk or a
question for the FAQ — reads that value.
"""

from __future__ import annotations

import re

from flows import words
from flows.utterance import Utterance, understand
from handlers import faq, flow, followup, handoff, subscribe, texts
from handlers.context import HandlerContext, Turn, TurnResult
from handlers.events import services_result, welcome_choices, welcome_result
from handlers.messages import user_text
from handlers.paging import next_page
from handlers.replies import TextReply
from handlers.session import ClarifyOption


async def handle(turn: Turn, ctx: HandlerContext) -> TurnResult:
    said = flow.understood(ctx, understand(user_text(turn.message) or "", turn.now.date()))
    session = turn.session
    command = said.command

    if command in words.MORE:
        if not session.more:
            return TurnResult(TextReply(texts.NO_MORE), "more", session)
        page, session.more = next_page(session.more)
        return TurnResult(TextReply(page), "more", session)
    # Any other message drops the pages of the previous answer.
    session.more = []

    if handoff.is_request(command):
        return await handoff.request(turn, ctx)
    # Our own numbers, 「我的预约」, 「取消预约」, 「改约」 and the exchanges they start (issue 18).
    followed = await followup.handle(turn, ctx, said.raw)
    if followed is not None:
        return followed
    # 「订阅…」「退订…」「我的订阅」 (issue 19); outside a flow, so a slot answer is never taken for one.
    if session.flow is None:
        subscribed = await subscribe.handle(turn, ctx, command)
        if subscribed is not None:
            return subscribed

    choices = session.choices
    session.choices = []
    if not choices and session.flow is None and said.pick is not None and said.pick <= len(texts.SERVICES):
        # A bare 「2」 with nothing on offer: the number of a service in the welcome menu, which a
        # follower has seen (on subscribing, or a while ago) even when this session has not.
        choices = welcome_choices()
    if choices and said.pick is not None:
        picked = await _pick(turn, ctx, choices, said.pick)
        if picked is not None:
            return picked
    if session.flow is None:
        answered = await _answers_offer(turn, ctx, choices, said)
        if answered is not None:
            return answered
    if session.flow is not None:
        result = await flow.continue_(turn, ctx, said, choices)
        if result is not None:
            return result
    result = await flow.maybe_start(turn, ctx, said)
    if result is not None:
        return result
    small_talk = _small_talk(turn, said)
    if small_talk is not None:
        return small_talk
    if _BARE_NUMBER.fullmatch(command):
        # A phone or card number alone is no question: matched as text, its digits pulled FAQ
        # entries that happen to contain a number (「13911112222」 → 交管12123).
        # "clarify": we ask what the number is for. Without the session store it may also be the
        # answer to a flow's question, and the turn processor says so for this route.
        return TurnResult(TextReply(texts.BARE_NUMBER), "clarify", session)
    visit = await flow.for_a_visit(turn, ctx, said)
    if visit is not None:
        return visit
    return await subscribe.maybe_offer(turn, ctx, await faq.handle(turn, ctx, said))


# Digits with the separators people type between them, long enough to be an identifier.
_BARE_NUMBER = re.compile(r"\+?\d(?:[\d\s\-.]*\d){4,}")


async def _pick(turn: Turn, ctx: HandlerContext, choices: list[ClarifyOption], number: int) -> TurnResult | None:
    """The answer to a pick from the menu just shown (「2」「第二个」), or None when it is not one."""
    if not 1 <= number <= len(choices):
        if turn.session.flow is not None:
            # A number beyond the menu may be the flow's answer (a count, an option).
            return None
        return _menu_again(turn, ctx, choices)
    picked = choices[number - 1]
    if picked.kind == "faq":
        # A menu offered mid-flow: after the answer, the flow's question again.
        return flow.resume(turn, ctx, faq.answer_entry(turn, ctx, picked.target, via_menu=True))
    if picked.kind == "flow":
        return await _started_or_welcome(turn, ctx, picked.target)
    if picked.kind == "command":
        return await _command(turn, ctx, picked.target)
    return None


async def _answers_offer(
    turn: Turn, ctx: HandlerContext, choices: list[ClarifyOption], said: Utterance
) -> TurnResult | None:
    """The answer to the question of a service just offered (「需要现在办理「办件进度查询」吗？请输入
    受理编号…」 → 「SQ2026…」) starts that service with it, whatever else its words might trigger."""
    offered = [c.target for c in choices if c.kind == "flow"]
    if len(offered) != 1 or ctx.flows is None or said.question:
        return None
    service = ctx.flows.current(offered[0])
    if service is None or not faq.first_question(service) or not said.prefill(service):
        return None
    return await flow.start(turn, ctx, service.id, said)


async def _started_or_welcome(turn: Turn, ctx: HandlerContext, flow_id: str) -> TurnResult:
    result = await flow.start(turn, ctx, flow_id, text="")
    return result if result is not None else welcome_result(turn)


async def _command(turn: Turn, ctx: HandlerContext, target: str) -> TurnResult:
    """The ways forward the fallback lists: 1 换个说法, 2 菜单, 3 人工 — each does what it says."""
    if target == faq.REPHRASE:
        return TurnResult(TextReply(texts.REPHRASE), "menu", turn.session)
    if target == faq.MENU:
        return services_result(turn)
    return await handoff.request(turn, ctx)


def _menu_again(turn: Turn, ctx: HandlerContext, choices: list[ClarifyOption]) -> TurnResult:
    """A number the menu does not have: say which numbers it has, and show it again."""
    session = turn.session
    session.choices = choices
    lines = [texts.OUT_OF_RANGE.format(last=len(choices))]
    lines += [f"{i}. {label}" for i, label in enumerate(_labels(ctx, choices), start=1)]
    return TurnResult(TextReply("\n".join(lines)), "menu", session)


def _labels(ctx: HandlerContext, choices: list[ClarifyOption]) -> list[str]:
    services = {flow_id: name for name, flow_id, _desc in texts.SERVICES}
    labels = []
    for choice in choices:
        label = choice.target
        if choice.kind == "faq" and ctx.matcher is not None:
            entry = ctx.matcher.entry(choice.target)
            label = entry.question if entry is not None else label
        elif choice.kind == "flow":
            label = services.get(choice.target, label)
        elif choice.kind == "command":
            label = faq.COMMAND_LABELS.get(choice.target, label)
        labels.append(label)
    return labels


# Small talk answered by a line of its own above the list of services: a smile back for laughter
# or emoji (nothing said yet), and for 「你们是机器人吗」 who answers.
_SERVICES_LEAD = {"laugh": texts.SMILE, "emoji": texts.SMILE, "bot": texts.I_AM_THE_BOT}


def _small_talk(turn: Turn, said: Utterance) -> TurnResult | None:
    """Greetings, thanks, acknowledgements and flow commands outside a flow: answered as a person
    would, never as an FAQ miss or a guessed FAQ menu (「好的」 is not a question about 个税退税).

    Counting these as unanswered questions would also push the user towards a hand-off
    (N consecutive fallbacks) for saying 谢谢.
    """
    session = turn.session
    command = said.command
    if said.small_talk == "thanks":
        session.consecutive_fallbacks = 0
        return TurnResult(TextReply(texts.YOU_ARE_WELCOME), "menu", session)
    if command in texts.NO_FLOW_COMMANDS:
        result = welcome_result(turn)
        result.reply = TextReply(texts.NOTHING_TO_LEAVE + "\n" + texts.welcome())
        return result
    kind = said.small_talk
    if kind == "greeting":
        return welcome_result(turn)
    if kind in ("vague", "capabilities"):
        return services_result(turn)
    lead = _SERVICES_LEAD.get(kind)
    if lead is not None:
        # A line of its own, then the services, numbered so a number works next.
        result = services_result(turn)
        assert isinstance(result.reply, TextReply)
        result.reply = TextReply(f"{lead}\n{result.reply.content}")
        return result
    if kind in texts.SMALL_TALK:
        return TurnResult(TextReply(texts.SMALL_TALK[kind]), "menu", session)
    return None
