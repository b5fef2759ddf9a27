"""FAQ turns: answer from the knowledge base, offer a numbered choice, or fall back helpfully.

`handle` is the last stop for a text message (after paging, numbered choices and flows);
`answer_entry` answers one entry picked from a menu (a digit, or a `faq:<id>` menu click).
The decision itself is the matcher's (`knowledge.matcher`); this module owns the wording and the
session bookkeeping: the menu offered, the last entry answered, the fallback count that the
hand-off route (handlers.handoff.after_fallbacks) watches.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from flows import intents, words
from flows.utterance import Utterance
from knowledge.normalize import normalize, segment

if TYPE_CHECKING:
    from flows.registry import FlowRegistry
    from flows.schema import Flow
    from knowledge.layered import LayeredMatcher
    from knowledge.matcher import Matcher, MatchResult
    from knowledge.schema import FaqEntry
from handlers.context import HandlerContext, Turn, TurnMeta, TurnResult
from handlers.replies import TextReply
from handlers.session import ClarifyOption

CLARIFY_HEAD = "您是不是想问："
CLARIFY_TAIL = "请回复数字"
FALLBACK = (
    "抱歉，暂时没有找到与您的问题相符的答案。您可以：\n"
    "1. 换个说法，简单说明要办的事，例如「社保卡丢了怎么补办」；\n"
    "2. 回复「菜单」查看可以办理的服务；\n"
    "3. 回复「人工」联系人工客服。"
)
# The fallback's numbered ways forward, as `command` choices: each number does what it says.
REPHRASE = "rephrase"
MENU = "menu"
HANDOFF = "handoff"
FALLBACK_CHOICES = (REPHRASE, MENU, HANDOFF)
COMMAND_LABELS = {REPHRASE: "换个说法", MENU: "查看可以办理的服务", HANDOFF: "人工客服"}
OFFER_FLOW = "需要现在办理吗？请回复数字："
# A service whose first question is one fact (a 受理编号): asked at once, so the citizen answers it
# instead of first picking 1 to be asked it (issue 13); 1 still starts the service.
OFFER_FLOW_ASKING = "需要现在办理「{title}」吗？{prompt}\n（也可以回复 1 开始办理）"
UNAVAILABLE = "抱歉，智能问答暂时无法使用，请稍后再试，或回复「人工」联系人工客服。"
GONE = "抱歉，您选择的问题已更新或下线。请直接输入您的问题，我们重新为您查找。"
# A short question soon after an answer often leaves its subject unsaid (「社保卡丢了怎么补办」 →
# 「补办要钱不」, 「那居住证呢」): not understood alone, it is read again after the question just
# answered. Longer messages carry their own subject, and after this long the context is stale.
FOLLOW_UP_MAX_CHARS = 12
FOLLOW_UP_WINDOW_S = 600.0


async def handle(turn: Turn, ctx: HandlerContext, said: Utterance) -> TurnResult:
    session = turn.session
    text, command = said.text, said.command
    if words.asks_for_menu(command):
        # Imported here: handlers.events imports this module for `faq:` menu clicks.
        from handlers.events import welcome_result

        return welcome_result(turn)
    matcher = ctx.matcher
    if matcher is None:
        return _fallback(turn, UNAVAILABLE, None)
    result = matcher.match(text, turn.now.date())
    if result.decision != "answer":
        result = _in_context(turn, matcher, text, result)
    if result.decision == "answer" and result.faq_id is not None:
        entry = matcher.entry(result.faq_id)
        if entry is not None:
            return _answer(turn, entry.id, _offered(turn, ctx, entry.id, entry.answer, said), result.score)
    if result.decision == "clarify" and result.candidates:
        session.choices = [ClarifyOption(kind="faq", target=c.faq_id) for c in result.candidates]
        lines = [CLARIFY_HEAD]
        lines += [f"{i}. {c.question}" for i, c in enumerate(result.candidates, start=1)]
        lines.append(CLARIFY_TAIL)
        return TurnResult(TextReply("\n".join(lines)), "clarify", session, TurnMeta(score=result.score))
    fell_back = _fallback(turn, FALLBACK, result.score)
    session.choices = [ClarifyOption(kind="command", target=target) for target in FALLBACK_CHOICES]
    return fell_back


def answer_entry(turn: Turn, ctx: HandlerContext, faq_id: str, *, via_menu: bool) -> TurnResult:
    """Answer the entry the user picked; `via_menu` repeats its question so they see what they chose."""
    matcher = ctx.matcher
    if matcher is None:
        return _fallback(turn, UNAVAILABLE, None)
    entry = matcher.entry(faq_id)
    # A menu offered before a reload may name an entry that has since been disabled or expired.
    if entry is None or not entry.is_active(turn.now.date()):
        return _fallback(turn, GONE, None)
    text = f"【{entry.question}】\n{entry.answer}" if via_menu else entry.answer
    return _answer(turn, entry.id, _offered(turn, ctx, entry.id, text), None)


def _offered(turn: Turn, ctx: HandlerContext, faq_id: str, text: str, said: Utterance | None = None) -> str:
    """An answer that describes a service (a flow lists it under `faq:`) offers to start it.

    「办件进度怎么查」 answered outside a flow ends with 「1. 办件进度查询」, so the citizen can do
    it now instead of retyping the words the answer tells them to send. So does any answer to a
    message that says the citizen means to come (`triggers.offer_when`: 「…想去大厅补办」), that
    names nothing but a business the flow takes (「补社保卡」: how, and the booking to do it), or
    that names the flow's action (「…要预约么」: answered, and the booking offered).
    """
    registry = ctx.flows
    if registry is None or turn.session.flow is not None:
        return text
    flow = next((f for f in registry if faq_id in f.faq), None)
    if flow is None and said is not None:
        # Which flow the message's words lead to is a pure function of them, the day (their dates)
        # and the flows: remembered by the registry like the flow a message triggers.
        led = registry.remembered(("leads_to", said.text, said.today), lambda: _led_to(registry, said))
        flow = registry.current(led) if led is not None else None
    if flow is None:
        return text
    turn.session.choices = [ClarifyOption(kind="flow", target=flow.id)]
    first = first_question(flow)
    if first:
        return f"{text}\n{OFFER_FLOW_ASKING.format(title=flow.title, prompt=first)}"
    return f"{text}\n{OFFER_FLOW}\n1. {flow.title}"


def _led_to(registry: FlowRegistry, said: Utterance) -> str | None:
    if not said.intents:
        intents.rank(said, registry)  # what `_asked_for` reads, whichever handler asked first
    return next((flow.id for flow in registry if _leads_to(flow, said)), None)


def _leads_to(flow: Flow, said: Utterance) -> bool:
    return means_to_come(flow, said) or _only_names_what(flow, said) or _asked_for(flow, said)


def _asked_for(flow: Flow, said: Utterance) -> bool:
    """「结婚证丢了想补一个 要预约么」: the question names the flow's action, and the answer to it
    may not say how to do it here."""
    intent = said.intent(flow.id)
    return intent is not None and intent.kind == "action"


def means_to_come(flow: Flow, said: Utterance) -> bool:
    """The message says the citizen means to come for `flow` (`triggers.offer_when`: 「想去大厅」)."""
    return any(word in said.command for word in flow.triggers.offer_when)


# A message this short (punctuation aside) that names a business and asks nothing is the business.
TERSE_MAX_CHARS = 6


def _only_names_what(flow: Flow, said: Utterance) -> bool:
    """「补社保卡」「换身份证」: a few words naming what the flow takes first (its first `fills`
    fact), asking nothing."""
    fills = flow.triggers.fills
    short = len(words.PUNCTUATION.sub("", said.command)) <= TERSE_MAX_CHARS
    return bool(fills) and short and not said.question and fills[0] in said.prefill(flow)



def first_question(flow: Flow) -> str:
    """The flow's first question when it is one fact typed as an answer (not a numbered choice,
    whose numbers would clash with the offer's 1), else ""."""
    step = flow.steps[0]
    names = [n for n in step.ask if flow.slots[n].required]
    if len(names) != 1 or flow.slots[names[0]].type == "choice" or step.say:
        return ""
    return flow.slots[names[0]].prompt


def just_answered(turn: Turn, ctx: HandlerContext) -> str:
    """The question of the FAQ entry answered within the follow-up window, or "".

    The entry's own question, not the citizen's words: it names the subject plainly
    (「办出入境证件需要预约吗」) and keeps nothing the citizen typed in the session.
    """
    session = turn.session
    if ctx.matcher is None or not session.last_faq_id:
        return ""
    if turn.now.timestamp() - session.last_faq_at > FOLLOW_UP_WINDOW_S:
        return ""
    entry = ctx.matcher.entry(session.last_faq_id)
    return entry.question if entry is not None else ""


def _in_context(turn: Turn, matcher: Matcher | LayeredMatcher, text: str, alone: MatchResult) -> MatchResult:
    """`alone`, or what `text` means after the question answered just before, when it is a short
    follow-up whose own words are found in the entry that reading leads to (so 「今天下雨吗」
    after a social-security answer still falls back instead of repeating it)."""
    session = turn.session
    previous = matcher.entry(session.last_faq_id) if session.last_faq_id else None
    recent = turn.now.timestamp() - session.last_faq_at <= FOLLOW_UP_WINDOW_S
    if previous is None or not recent or len(normalize(text).replace(" ", "")) > FOLLOW_UP_MAX_CHARS:
        return alone
    together = matcher.match(f"{previous.question} {text}", turn.now.date())
    if together.decision == "fallback" or not together.candidates:
        return alone
    if together.decision == "clarify" and alone.decision == "clarify":
        return alone
    lead = matcher.entry(together.faq_id or together.candidates[0].faq_id)
    if lead is None:
        return alone
    return together if speaks_of(lead, subject_words(text)) else alone


def speaks_of(entry: FaqEntry, words: Iterable[str]) -> bool:
    """Whether one of `words` is found in the entry: its question, similar questions, keywords or answer."""
    text = normalize(" ".join([entry.question, *entry.similar, *entry.keywords, entry.answer]))
    return any(word in text for word in words)


# Words that say nothing about what is asked, so they cannot tie a follow-up to an answer.
_FUNCTION_WORDS = frozenset(
    [
        "的",
        "了",
        "吗",
        "呢",
        "吧",
        "啊",
        "呀",
        "么",
        "嘛",
        "不",
        "是",
        "有",
        "在",
        "和",
        "那",
        "这",
        "就",
        "也",
        "还",
        "要",
        "能",
        "会",
        "啥",
        "什么",
        "怎么",
        "可以",
        "那个",
        "这个",
        "请问",
        "一下",
    ]
)


def subject_words(text: str) -> list[str]:
    """The words of a follow-up that could name its subject: two characters or more when it has
    any (「补办」「要钱」), else its single content characters (「要带啥」 → 「带」)."""
    words = [w for w in segment(normalize(text)) if w.strip() and w not in _FUNCTION_WORDS]
    longer = [w for w in words if len(w) >= 2]
    return longer or words


def _answer(turn: Turn, faq_id: str, text: str, score: float | None) -> TurnResult:
    session = turn.session
    session.last_faq_id = faq_id
    session.last_faq_at = turn.now.timestamp()
    session.consecutive_fallbacks = 0
    return TurnResult(TextReply(text), "faq", session, TurnMeta(faq_id=faq_id, score=score))


def _fallback(turn: Turn, text: str, score: float | None) -> TurnResult:
    session = turn.session
    session.consecutive_fallbacks += 1
    return TurnResult(TextReply(text), "fallback", session, TurnMeta(score=score))
