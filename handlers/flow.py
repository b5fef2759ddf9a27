"""Flow turns: start a service flow, continue the one in progress, or notice that a message starts one.

The engine (`flows.engine`) owns what a flow does with a message; this module owns the session
around it: expiry, a flow version that is gone, switching to another flow, the FAQ answer for a
question asked mid-flow, hand-off, and the turn's meta for the turn log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flows import engine, intents, rating, words
from flows.engine import Outcome
from flows.registry import FlowRegistry
from flows.schema import SATISFACTION_STEP, Flow
from flows.state import FlowState
from flows.turn import FlowTurn
from flows.utterance import Utterance, is_question, understand
from handlers import faq, followup
from handlers.context import HandlerContext, Turn, TurnMeta, TurnResult
from handlers.replies import TextReply, TransferReply
from handlers.session import ClarifyOption, Session
from knowledge.matcher import MatchResult
from knowledge.normalize import normalize

if TYPE_CHECKING:
    from knowledge.layered import LayeredMatcher
    from knowledge.matcher import Matcher

# A trigger phrase this similar to the message starts the flow on its own (PhraseIndex, 0..1).
TRIGGER_THRESHOLD = 0.7
# A question that names a flow only by an intent word goes to the FAQ when an entry outscores the
# flow's best trigger phrase by this much.
FAQ_PREFERENCE_MARGIN = 0.25

EXPIRED = "您好，您之前办理的「{title}」超过{minutes}分钟没有继续，为保护您的信息已自动结束。"
VERSION_CHANGED = "「{title}」的办理流程刚刚更新，需要请您重新填写，给您带来不便敬请谅解。"
RETIRED = "您之前办理的「{title}」已暂停服务，给您带来不便敬请谅解。"
SWITCHED = "已结束「{old}」，为您办理「{new}」。"
# The matcher's menu mid-flow. Numbered only while a bare digit is no answer to the flow, so a
# digit reply is never ambiguous: handlers.text reads it as a pick from this menu.
ASIDE_MENU_TAIL = "（回复数字查看解答）"
ASIDE_LIST_HEAD = "您可能想问以下问题，发送问题原文即可查看解答："


@dataclass(slots=True)
class _Aside:
    """What the FAQ contributed to a flow turn: the entry answered, or the menu offered."""

    faq_id: str = ""
    score: float | None = None
    menu: list[ClarifyOption] = field(default_factory=list)


def _meta(flow: Flow, outcome: Outcome, aside: _Aside | None = None) -> TurnMeta:
    return TurnMeta(
        faq_id=aside.faq_id if aside else "",
        score=aside.score if aside else None,
        flow_id=flow.id,
        step=outcome.step,
        resolved=outcome.resolved,
        satisfaction=outcome.satisfaction,
        handoff=outcome.handoff,
    )


def _result(
    turn: Turn, ctx: HandlerContext, flow: Flow, outcome: Outcome, prefix: str = "", aside: _Aside | None = None
) -> TurnResult:
    session = turn.session
    if outcome.satisfaction in rating.LOW and session.flow is not None:
        # 不满意 / 非常不满意: the next message may say why, and becomes a follow-up ticket.
        followup.ask_reason(turn, ctx, flow, session.flow, outcome.satisfaction)
    session.flow = outcome.state
    waiting = outcome.state is not None and outcome.state.step == SATISFACTION_STEP
    # The turn processor keeps the consultation open while a satisfaction answer is awaited.
    session.awaiting_satisfaction = flow.id if waiting else ""
    if aside is not None and aside.menu and outcome.state is not None:
        session.choices = aside.menu
    meta = _meta(flow, outcome, aside)
    if outcome.handoff:
        return TurnResult(TransferReply(ctx.handoff.agent_account), "handoff", session, meta)
    text = "\n".join(p for p in (prefix, outcome.reply) if p)
    return TurnResult(TextReply(text), "flow", session, meta)


def _faq(turn: Turn, ctx: HandlerContext, text: str) -> tuple[str, float] | None:
    """The id of the FAQ entry the matcher is confident about, with its score."""
    matcher = ctx.matcher
    if matcher is None:
        return None
    result = matcher.match(text, turn.now.date())
    if result.decision != "answer" or result.faq_id is None:
        return None
    entry = matcher.entry(result.faq_id)
    return (entry.id, result.score) if entry is not None else None


def _faq_answer(
    turn: Turn, ctx: HandlerContext, aside: _Aside, flow: Flow, state: FlowState
) -> engine.FaqAnswer | None:
    """The FAQ's word on a message asked mid-flow; records in `aside` what it offered."""
    matcher = ctx.matcher
    if matcher is None:
        return None

    def answer(text: str, *, menu: bool, numbered: bool) -> str | None:
        result = _about_the_business(matcher, text, flow, state, turn)
        aside.score = result.score
        if result.decision == "answer" and result.faq_id is not None:
            entry = matcher.entry(result.faq_id)
            if entry is not None:
                aside.faq_id = entry.id
                return entry.answer
        if not menu or result.decision != "clarify" or not result.candidates:
            return None
        if not numbered:
            return "\n".join([ASIDE_LIST_HEAD, *(f"· {c.question}" for c in result.candidates)])
        aside.menu = [ClarifyOption(kind="faq", target=c.faq_id) for c in result.candidates]
        lines = [faq.CLARIFY_HEAD, *(f"{i}. {c.question}" for i, c in enumerate(result.candidates, start=1))]
        return "\n".join([*lines, ASIDE_MENU_TAIL])

    return answer


def _about_the_business(
    matcher: Matcher | LayeredMatcher, text: str, flow: Flow, state: FlowState, turn: Turn
) -> MatchResult:
    """What a question asked mid-flow means, read with the business the flow already holds.

    「要带什么东西去」 while booking 社保卡办理 asks about the social-security card, whatever entry
    the words alone lead to (结婚登记需要什么材料). A question that names no business of its own,
    whose own reading leads to an entry about another one, is read again after the business held
    (as handlers.faq reads a short follow-up after the answer just given): its answer when that
    entry is about the business, else a menu of the entries about it; the question alone when
    none is.
    """
    today = turn.now.date()
    alone = matcher.match(text, today)
    said = normalize(text)
    for name, value in state.slots.items():
        slot = flow.slots.get(name)
        if slot is None or slot.type != "choice":
            continue
        if any(word in said for opt in slot.options for word in (opt.value, *opt.synonyms) if len(word) >= 2):
            # 「结婚登记要带什么」 names its own business.
            continue
        option = next((opt for opt in slot.options if opt.value == value), None)
        if option is None:
            continue
        words = [w for w in (option.value, *option.synonyms) if len(w) >= 2]
        lead = alone.faq_id or (alone.candidates[0].faq_id if alone.candidates else None)
        if alone.decision == "fallback" or (lead is not None and _about(matcher, lead, words)):
            return alone
        together = matcher.match(f"{value} {text}", today)
        asked = tuple(faq.subject_words(text))
        if together.decision == "answer" and together.faq_id and _about(matcher, together.faq_id, words, asked):
            return together
        menu = [c for c in together.candidates if _about(matcher, c.faq_id, words, asked)]
        if menu:
            return MatchResult("clarify", None, together.score, menu)
        others = [w for opt in slot.options if opt.value != value for w in (opt.value, *opt.synonyms) if len(w) >= 2]
        if lead is not None and _about(matcher, lead, others):
            # Nothing about the business held, and the words alone lead to another business
            # (结婚登记的材料 while booking 公积金): no answer is better than the wrong one.
            return MatchResult("fallback", None, alone.score, [])
    return alone


def _about(matcher: Matcher | LayeredMatcher, faq_id: str, words: list[str], asked: tuple[str, ...] = ()) -> bool:
    """Whether the entry's question names one of `words` (its subject: the similar questions and
    keywords mention neighbouring matters too, 「社保」 in an entry about retiring) and the entry
    speaks of one of the words `asked` (「周末大厅上班吗」 is not about 外地户口办身份证)."""
    entry = matcher.entry(faq_id)
    if entry is None or not any(word in normalize(entry.question) for word in words):
        return False
    return not asked or faq.speaks_of(entry, asked)


def resume(turn: Turn, ctx: HandlerContext, result: TurnResult) -> TurnResult:
    """After an aside answered outside the flow (an FAQ menu pick), repeat the flow's question."""
    state = turn.session.flow
    registry = ctx.flows
    if state is None or registry is None or state.resolved or not isinstance(result.reply, TextReply):
        return result
    flow = registry.get(state.flow_id, state.version)
    if flow is None or engine.expired(state, turn.now, ctx.session_timeout_s):
        return result
    prompt = engine.current_prompt(flow, state, turn.now)
    if prompt:
        resumed = engine.RESUME.format(title=flow.title)
        result.reply = TextReply(f"{result.reply.content}\n{resumed}\n{prompt}")
        state.updated_at = turn.now.timestamp()
    return result


async def attach_media(turn: Turn, ctx: HandlerContext, note: str) -> TurnResult | None:
    """A photo, voice or place sent right after filing a ticket: attached to it for staff.

    None when no ticket was just filed (the flow is over, or it filed none).
    """
    state = turn.session.flow
    registry = ctx.flows
    if state is None or registry is None or state.step != SATISFACTION_STEP or not state.ticket:
        return None
    flow = registry.get(state.flow_id, state.version)
    if flow is None or flow.complete.action.type != "ticket" or engine.expired(state, turn.now, ctx.session_timeout_s):
        return None
    state = state.model_copy(deep=True)
    state.updated_at = turn.now.timestamp()
    outcome = await engine.attach(FlowTurn(flow, state, turn.now, ctx.services, turn.session.openid), note)
    if outcome.passthrough:
        return None
    return _result(turn, ctx, flow, outcome)


def _flow_answers(flow: Flow, said: Utterance) -> bool:
    """Whether a question naming `flow` is one the flow itself is there to answer.

    A guidance flow (no action) is an FAQ answer tailored by a question or two: 「开办企业需要
    哪些手续」 gets it. A flow whose matching intent word is itself a question (「批下来了吗」)
    does what is asked (a progress lookup).
    A flow asked for a business it refers elsewhere (「我车要年检了 能在你们这预约吗」) says
    plainly that it is not done here and where it is: what the question asks.
    """
    if flow.complete.action.type == "none":
        return True
    intent = said.intent(flow.id)
    if intent is None or intent.kind != "action":
        return False
    return is_question(intent.word) or bool(engine.elsewhere(flow, said))


def understood(ctx: HandlerContext, said: Utterance) -> Utterance:
    """`said` with its intents ranked against the current flows (once per turn)."""
    if ctx.flows is not None and not said.intents:
        intents.rank(said, ctx.flows)
    return said


def triggered(registry: FlowRegistry, said: Utterance) -> tuple[Flow, float] | None:
    """The flow a message asks for, with its trigger-phrase score, or None (see flows.intents)."""
    if not said.intents:
        intents.rank(said, registry)
    for intent in said.intents:
        flow = registry.current(intent.flow_id)
        if flow is not None:
            return flow, intent.phrase_score
    return None


def _said(turn: Turn, said: Utterance | str) -> Utterance:
    return said if isinstance(said, Utterance) else understand(said, turn.now.date())


async def start(turn: Turn, ctx: HandlerContext, flow_id: str, text: Utterance | str) -> TurnResult | None:
    registry = ctx.flows
    flow = registry.current(flow_id) if registry is not None else None
    if flow is None:
        return None
    return await _start(turn, ctx, flow, _said(turn, text), context=True)


async def _start(
    turn: Turn, ctx: HandlerContext, flow: Flow, said: Utterance, prefix: str = "", *, context: bool = False
) -> TurnResult:
    """Start `flow` with `said`. `context`: the FAQ question just answered may name what the
    citizen wants done (「办护照要预约吗」 → 「那帮我约一个」): its business is not asked again."""
    asked = faq.just_answered(turn, ctx) if context else ""
    before = _said(turn, asked) if asked else None
    outcome = await engine.start(flow, said, turn.now, ctx.services, turn.session.openid, context=before)
    if before is not None:
        # The FAQ exchange led here and ends: a later flow does not carry its subject again.
        turn.session.last_faq_at = 0.0
    return _result(turn, ctx, flow, outcome, prefix)


def _prefixed(result: TurnResult, prefix: str) -> TurnResult:
    if isinstance(result.reply, TextReply):
        result.reply = TextReply(f"{prefix}\n{result.reply.content}")
    return result


async def _afresh(turn: Turn, ctx: HandlerContext, said: Utterance, notice: str) -> TurnResult:
    """The flow is gone: say so, and treat the message as if there had been no flow."""
    result = await maybe_start(turn, ctx, said)
    if result is None:
        result = await faq.handle(turn, ctx, said)
    return _prefixed(result, notice)


async def continue_(
    turn: Turn, ctx: HandlerContext, text: Utterance | str, choices: list[ClarifyOption]
) -> TurnResult | None:
    said = _said(turn, text)
    session = turn.session
    state = session.flow
    registry = ctx.flows
    if state is None or registry is None:
        return None
    flow = registry.get(state.flow_id, state.version)
    current = registry.current(state.flow_id)
    known = flow or current
    title = known.title if known is not None else state.flow_id

    if engine.expired(state, turn.now, ctx.session_timeout_s):
        _clear(session)
        if state.resolved:
            return None
        minutes = round(ctx.session_timeout_s / 60)
        return await _afresh(turn, ctx, said, EXPIRED.format(title=title, minutes=minutes))
    if flow is None:
        _clear(session)
        if state.resolved:
            return None
        if current is None:
            return await _afresh(turn, ctx, said, RETIRED.format(title=title))
        # This process no longer knows the version the session started on: restart cleanly.
        return await _start(turn, ctx, current, said, VERSION_CHANGED.format(title=title))

    if not state.resolved and not said.prefill(flow):
        # 「算了，我想查一下办件进度」 while asked for a name: the message is about another flow,
        # not an answer, even though its words could pass for free text.
        other = triggered(registry, said)
        if other is not None and other[0].id != flow.id and _switches(said, other[0]):
            _clear(session)
            return await _start(turn, ctx, other[0], said, SWITCHED.format(old=flow.title, new=other[0].title))
    aside = _Aside()
    outcome = await engine.advance(
        flow, state, said, turn.now, ctx.services, session.openid, faq=_faq_answer(turn, ctx, aside, flow, state)
    )
    if outcome.passthrough:
        _clear(session)
        return None
    return _result(turn, ctx, flow, outcome, aside=aside)


def _switches(said: Utterance, other: Flow) -> bool:
    """Whether a message mid-flow asks for `other` strongly enough to leave the current flow.

    An action word or a close trigger phrase does; a topic word alone (「办营业执照要带什么」
    while booking) is a question about the business, answered by the FAQ within the flow.
    """
    intent = said.intent(other.id)
    return intent is not None and intent.kind in ("action", "phrase")


def _clear(session: Session) -> None:
    session.flow = None
    session.awaiting_satisfaction = ""


async def for_a_visit(turn: Turn, ctx: HandlerContext, said: Utterance) -> TurnResult | None:
    """「社保卡要年审还是啥的 想去大厅问问」: a statement that the citizen means to come
    (`triggers.offer_when`) about what a flow takes (its first `fills` fact, the business), which
    no FAQ entry answers nor comes close to: start that flow with it rather than fall back. When
    an entry answers, the FAQ answers and offers the flow (handlers.faq); when some come close,
    the FAQ's menu of them is shown."""
    registry, matcher = ctx.flows, ctx.matcher
    coming = any(m.value is not None and m.value >= said.today for m in said.dates)
    if registry is None or matcher is None or (words.TOLD_OF_THE_PAST.search(said.command) and not coming):
        # 「上个月我爸去办医保 楼梯上不去」 tells what happened, not a visit to come; 「后天上午去办
        # 医保…上次转了半天没位置」 names the day to come.
        return None
    for candidate in registry:
        fills = candidate.triggers.fills
        if not fills or not faq.means_to_come(candidate, said):
            continue
        if fills[0] in said.prefill(candidate) and matcher.match(said.text, turn.now.date()).decision == "fallback":
            return await _start(turn, ctx, candidate, said)
    return None


async def maybe_start(turn: Turn, ctx: HandlerContext, text: Utterance | str) -> TurnResult | None:
    said = _said(turn, text)
    registry = ctx.flows
    if registry is None or not said.text:
        return None
    found = triggered(registry, said)
    if found is None:
        return None
    flow, score = found
    if said.intents and intents.asks_whether_needed(said, said.intents[0]) and _faq(turn, ctx, said.text):
        # 「结婚登记要预约吗」 asks whether booking is required: the FAQ entry that says so answers
        # (it offers the service when it describes it), rather than starting the booking.
        return None
    if score < TRIGGER_THRESHOLD and said.question and not said.prefill(flow) and not _flow_answers(flow, said):
        # 「预约需要带什么材料」 names the flow but asks a question an FAQ entry matches much
        # better than any trigger phrase: answer it. 「怎么查办理进度」 stays with the flow, which
        # does the checking.
        faq_hit = _faq(turn, ctx, said.text)
        # An entry that only describes this very service (the flow lists it under `faq:`) is
        # answered best by doing it.
        describes_flow = faq_hit is not None and faq_hit[0] in flow.faq
        if faq_hit is not None and faq_hit[1] >= score + FAQ_PREFERENCE_MARGIN and not describes_flow:
            return None
    return await _start(turn, ctx, flow, said, context=True)
