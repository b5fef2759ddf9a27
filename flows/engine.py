"""The flow engine: one small interpreter for every `flows/*.yaml` transition table.

Pure: it takes a flow, the user's `FlowState`, the message — an `Utterance`, read once by
`flows.utterance` (a plain string is read on entry) — and the time, and returns the reply text and
the next state. The only I/O is through the `Services` port (tickets, backends). Applying values
to the state is `flows.reading`; what is said is `flows.prompts`; moving through the steps and
running the action is `flows.turn`; 返回 and states saved by older flow files are `flows.recovery`.

Each message, in this order (docs/reference dialog-systems.md §4, recommendation 3):
1. control words: 人工, 取消/退出, 重新开始, 返回/上一步 (takes back the last answer), 菜单/帮助
   and greetings (answered, then the question again);
2. every open slot is searched (several can fill at once); a filled slot changes on a correction
   (「不对，改成后天」, 「日期改成12月3日」), at the confirmation, or when a statement gives a new day,
   half-day or mobile; 「不知道编号」 gets the slot's `unknown` help; a business the flow does not
   offer is said plainly (`elsewhere`, `not_offered`), bounded by `max_attempts`;
3. nothing for the flow: the citizen never loses their place. A question gets the FAQ's answer,
   its menu or a kind 'no answer yet', then the current prompt, and costs no attempt; anything
   else counts as a failed attempt at the slots asked, bounded by `max_attempts`;
4. steps whose slots are all filled are passed through, so only missing slots are ever asked;
5. the completion action runs; if it fails the flow waits at `retry`, where 「确认」 runs it again.

A saved state is made to fit its flow first (`recovery.fits`): nothing a flow file no longer has can make
a turn raise; a state on a step that is gone starts the flow afresh with an explanation.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable
from datetime import datetime
from typing import Protocol

from flows import dates, intents, prompts, rating, recovery, words
from flows import slots as parsers
from flows.prompts import current_prompt, prompt_for, values
from flows.reading import Reading, bare_name, read
from flows.schema import CONFIRM_STEP, RETRY_STEP, SATISFACTION_STEP, Flow, Satisfaction
from flows.state import FlowState
from flows.turn import BACKEND_DOWN, BACKEND_TIMEOUT, TICKET_FAILED, FlowTurn, Outcome, new_state
from flows.utterance import Utterance, command_form, is_question, noise, understand
from handlers.ports import Services

__all__ = [
    "BACKEND_DOWN",
    "BACKEND_TIMEOUT",
    "TICKET_FAILED",
    "FaqAnswer",
    "Outcome",
    "advance",
    "attach",
    "awaiting",
    "command",
    "current_prompt",
    "expired",
    "is_question",
    "new_state",
    "prompt_for",
    "start",
    "takes_digits",
    "values",
]

log = logging.getLogger("wxbot.flows")



class FaqAnswer(Protocol):
    """What the FAQ has to say about a message asked mid-flow, or None; sync or async.

    `menu`: a 「您是不是想问」 menu may be offered (the message gave the flow nothing, so it is
    a question, not an answer worded as one). `numbered`: the menu may be numbered, because a
    bare digit is not an answer to the flow right now (see `takes_digits`).
    """

    def __call__(self, text: str, *, menu: bool, numbered: bool) -> str | Awaitable[str | None] | None: ...


# The command words live in flows.words; these names are kept for callers of the engine.
CANCEL_WORDS = words.CANCEL
BACK_WORDS = words.BACK
RESTART_WORDS = words.RESTART
HELP_WORDS = words.HELP
GREETING_WORDS = words.GREETING
YES_WORDS = words.YES
NO_WORDS = words.NO
# Said instead of a rating: the flow ends with a kind word, and the message is not an FAQ question.
CLOSING_WORDS = frozenset({
    "谢谢", "谢谢你", "谢谢你们", "谢谢啦", "多谢", "感谢", "不用", "不用了", "不用谢", "不评价", "不用评价", "好的",
    "好", "嗯", "嗯嗯", "ok", "知道了", "收到", "明白了", "没有了", "没了", "没事了", "再见", "拜拜",
})
CLOSING = "不客气，祝您办事顺利！如还有其他问题，请直接输入。"

CANCELLED = "好的，已为您取消「{title}」。如还有其他问题，请直接输入。"
RESTARTED = "好的，我们重新开始办理「{title}」。"
GIVE_UP = "如果不方便填写，您可以回复「人工」转人工客服，或回复「退出」结束办理；也可以按下面的提示再试一次。"
NOT_UNDERSTOOD = "抱歉，没有识别出您的回复。"
# Small talk that says the citizen is listening, not answering (flows.utterance kinds).
_LISTENING = frozenset({"ack", "thanks", "laugh", "emoji", "praise"})
NO_CONTACT_NOTED = "好的，不留电话也可以。"
WEEK_NOTED = "好的，{week}。请问是{week}哪一天？例如「{week}三」。"

NOT_OFFERED_END = (
    "本次「{title}」已结束。如需办理上面列出的业务，回复「{title}」重新开始；其他事项请直接提问，或回复「人工」。"
)
# Told twice that what the citizen named is not offered here: the flow ends (never a loop).
NOT_OFFERED_LIMIT = 2
KEPT = "{label}仍为{value}。您可以换一个{label}，或回复「确认」按原信息提交。"
CONFIRM_AGAIN = "请回复「确认」提交，或直接说要修改的内容，回复「取消」放弃。"
MODIFY_HOW = "请直接告诉我要修改的内容，例如「日期改成后天」「手机号改为13912345678」。"
RESUME = "我们继续办理「{title}」："
HELP = (
    "您正在办理「{title}」。按提示回复即可，几项信息可以一句话说完。"
    "回复「返回」撤回上一步，「重新开始」从头填写，「取消」结束办理，「人工」联系人工客服。"
)
GREETING = "您好！"
NOTED = "好的。"
# A question mid-flow that the FAQ cannot answer: not a wrong answer, so no attempt is counted.
NO_ANSWER = "抱歉，这个问题暂时没有找到答案，您可以办完后换个说法再问，或回复「人工」咨询。"
RETRY_WORDS = frozenset({"重试", "再试", "再试一次", "重新提交", "重新查询", "再查", "再查一次", "再查一下"})
# A saved state whose step the flow no longer has (edited without a new version).
FLOW_UPDATED = "「{title}」的办理流程已更新，需要请您重新填写，给您带来不便敬请谅解。"




def command(text: str) -> str:
    """A message's command form (for callers that hold only the text, e.g. handlers.followup)."""
    return command_form(text)


def _utterance(said: Utterance | str, now: datetime) -> Utterance:
    """The engine reads an `Utterance`; a bare string (tests, tools) is read here, once."""
    return said if isinstance(said, Utterance) else understand(said, now.date())


def expired(state: FlowState, now: datetime, timeout_s: float) -> bool:
    last = state.updated_at or state.started_at
    return bool(last) and now.timestamp() - last > timeout_s






def takes_digits(flow: Flow, state: FlowState) -> bool:
    """Whether a bare digit answers the flow now: a numbered option, a number, 1 for 确认."""
    if state.step in (CONFIRM_STEP, RETRY_STEP, SATISFACTION_STEP):
        return True
    return any(flow.slots[n].type in ("choice", "number") for n in state.awaiting if n in flow.slots)


async def _faq(answer: FaqAnswer | None, text: str, *, menu: bool, numbered: bool) -> str | None:
    if answer is None:
        return None
    result = answer(text, menu=menu, numbered=numbered)
    if isinstance(result, Awaitable):
        return await result
    return result


async def start(
    flow: Flow,
    said: Utterance | str,
    now: datetime,
    services: Services,
    openid: str = "",
    context: Utterance | None = None,
) -> Outcome:
    """Start `flow`; the triggering message is read for every slot.

    `context`: what the conversation established just before (the FAQ question just answered,
    「办出入境证件需要预约吗」 before 「那帮我约一个」): the business it names fills a choice the
    message leaves open, so it is not asked again (`carried`).
    """
    said = _utterance(said, now)
    state = new_state(flow, now)
    fresh = state.snapshot()
    turn = FlowTurn(flow, state, now, services, openid)
    # 「请问怎么投诉窗口人员」 asks how: the service starts, but free text is not read from the question.
    how = intents.asks_how(said, flow)
    reading = read(flow, state, said, correcting=False, question=how) if said.text else Reading()
    referral = elsewhere(flow, said)
    if context is not None and not referral:
        reading.filled += carried(flow, state, context)
    if flow.intro and not referral:
        # 「好的，为您预约…」 before 「…不在本号预约」 would promise what the next line refuses.
        turn.say(flow.intro)
    if referral:
        # 「预约驾驶证换证」: say plainly that this cannot be booked here, and where it can.
        turn.say(referral)
    elif reading.filled and state.step == flow.first_step:
        turn.say(prompts.ack(flow, state, reading.filled, now))
    for message in reading.invalid.values():
        # 「明天」 on a Friday evening: say why the date was not taken before asking for another.
        turn.say(message)
    parts = list(turn.parts)
    turn.parts = []
    outcome = await turn.settle()
    unknown = _unknown(flow, state, said) if outcome.state is not None else ""
    if unknown:
        # 「编号我没有，咋查进度」: where to find it and the other ways on, with the question.
        parts.append(unknown)
    recovery.remember(outcome, fresh)
    if outcome.state is not None and outcome.state.step != CONFIRM_STEP and not turn.acted:
        # The introduction and what we understood, then the question.
        outcome.reply = "\n".join([*parts, outcome.reply])
    outcome.filled = reading.filled
    return outcome


def carried(flow: Flow, state: FlowState, context: Utterance) -> list[str]:
    """Fill the choices still open (the business) from what `context` plainly names; the names filled.

    Only a choice, and only a value read without a guess: the subject of the question just
    answered, not a date or a name said in passing, and nothing read through a homophone.
    """
    names = tuple(n for n, slot in flow.slots.items() if slot.type == "choice" and n not in state.slots)
    if not names:
        return []
    taken = []
    for name, hit in context.reading(flow, names=names).found.items():
        if name in names and not hit.doubt:
            state.slots[name] = hit.value
            taken.append(name)
    return taken


# 「电表要过户」: an offered option's words this close after another office's business are said of it.
_SAID_OF_GAP = 2


def elsewhere(flow: Flow, said: Utterance) -> str:
    """What the flow says about a business it does not offer that the message names, or ""."""
    for name, slot in flow.slots.items():
        if slot.type != "choice" or not slot.elsewhere:
            continue
        place = parsers.elsewhere_at(slot, said.text)
        if place is None:
            continue
        offered = said.scan(flow).found.get(name)
        # The message names an offered option too (「办护照，不是驾照」): that one counts, unless
        # its words are said of the other business (「电表过户」「电表要过户」: not 过户 of a
        # house) or the other business is what only that office does (`only`: 「…离婚 我要起诉」).
        where, start, end = place
        said_of = offered is not None and start <= offered.start <= end + _SAID_OF_GAP
        if offered is None or where.only or said_of:
            return where.say
    return ""


# 「…可以吗」「…行不行」: asking whether the answer will do, not asking something else.
_WILL_IT_DO = re.compile(r"可以吗|可以不|行吗|行不行|好吗|可不可以|能不能|能约吗|有号吗|有没有号|吗|呢|？|\?")
# Characters a question must have besides its answer to be a question of its own.
ASIDE_MIN_CHARS = 4


def _asks_beyond_its_answer(flow: Flow, state: FlowState, message: Utterance) -> bool:
    """Whether `message`, once the values it gives the flow are taken out, still asks something."""
    focus = tuple(n for n in state.awaiting if n in flow.slots)
    rest = list(message.text)
    for hit in message.reading(flow, focus, residual=False).found.values():
        rest[hit.start : hit.end] = " " * (hit.end - hit.start)
    left = _WILL_IT_DO.sub("", "".join(rest))
    return parsers.content_length(left, noise(flow)) >= ASIDE_MIN_CHARS


def _satisfaction(message: Utterance) -> str:
    """The 好差评 level of a short reply (flows.rating), or ""."""
    if message.question:
        return ""
    return rating.parse(message.text)






async def advance(
    flow: Flow,
    state: FlowState,
    said: Utterance | str,
    now: datetime,
    services: Services,
    openid: str = "",
    faq: FaqAnswer | None = None,
) -> Outcome:
    """Continue `state` (a copy is changed, never the caller's) with the user's message."""
    message = _utterance(said, now)
    before = state.snapshot()
    outcome = await _advance(flow, state, message, now, services, openid, faq)
    if message.command not in BACK_WORDS:
        recovery.remember(outcome, before)
    return outcome


async def _advance(
    flow: Flow,
    state: FlowState,
    message: Utterance,
    now: datetime,
    services: Services,
    openid: str,
    faq: FaqAnswer | None,
) -> Outcome:
    state = state.model_copy(deep=True)
    state.updated_at = now.timestamp()
    turn = FlowTurn(flow, state, now, services, openid)
    said = message.command

    if state.step == SATISFACTION_STEP:
        value = _satisfaction(message)
        if value:
            rated = flow.satisfaction or Satisfaction()
            turn.say(rated.sorry if value in rating.LOW else rated.thanks)
            return turn.outcome(ended=True, satisfaction=value)
        if said in CLOSING_WORDS:
            turn.say(CLOSING)
            return turn.outcome(ended=True)
        if state.amendable:
            amended = await _amend(turn, message)
            if amended is not None:
                return amended
        if flow.complete.action.type == "ticket" and state.ticket:
            # A mobile the flow did not get is the ticket's contact (the desk fills it in).
            contact = _contact_given(flow, state, message)
            if more_details(flow, message) or contact:
                # 「补充一下，地址是…」 right after filing: it belongs to that ticket, not a new one.
                return await attach(turn, message.raw.strip(), contact=contact)
            if message.question and _CAN_ADD.search(message.text):
                # 「发下照片可以吗」: yes, and how.
                turn.say(HOW_TO_ADD.format(number=state.ticket))
                return turn.outcome(resolved=True)
            if words.URGES.search(message.command):
                # 「能不能管管」「麻烦尽快」 right after filing: heard, and what happens next.
                turn.say(URGED.format(number=state.ticket))
                return turn.rate_again()
        if message.identifier_only(flow):
            # 「SQ2026…」 right after a lookup: look that one up too.
            return await start(flow, message, now, services, openid)
        return turn.outcome(ended=True, passthrough=True)

    if words.asks_for_agent(said):
        return turn.outcome(handoff=True)
    # 「算了不提了」「我先不约了」 as well as 取消: the citizen gives up what was started.
    if said in CANCEL_WORDS or (said.startswith("取消") and len(said) <= 6) or words.gives_up(said):
        turn.say(CANCELLED.format(title=flow.title))
        return turn.outcome(ended=True)
    if not recovery.fits(flow, state):
        # Saved before the flow was edited (same version, a step removed): start it afresh.
        outcome = await start(flow, message, now, services, openid)
        outcome.reply = "\n".join([FLOW_UPDATED.format(title=flow.title), outcome.reply])
        return outcome
    if said in RESTART_WORDS:
        fresh = new_state(flow, now)
        turn = FlowTurn(flow, fresh, now, services, openid)
        turn.say(RESTARTED.format(title=flow.title))
        return await turn.settle()
    if said in BACK_WORDS:
        return await recovery.back(turn)
    if said in HELP_WORDS or said in GREETING_WORDS:
        # Not an answer and not a wrong one: say what can be done here, then ask again.
        turn.say(HELP.format(title=flow.title) if said in HELP_WORDS else GREETING + RESUME.format(title=flow.title))
        turn.say(current_prompt(flow, state, now))
        return turn.outcome()

    at_confirm = state.step in (CONFIRM_STEP, RETRY_STEP)
    question = message.question
    reading = read(flow, state, message, correcting=at_confirm, question=question)
    if at_confirm and not reading.took and not reading.invalid and said not in YES_WORDS:
        renamed = bare_name(flow, state, message)
        reading = renamed if renamed.took else reading
    filled, changed, invalid = reading.filled, reading.changed, reading.invalid
    if reading.took and not question:
        # 「低保，下周二上午，柯南…」: the rest is taken, and the business said plainly first.
        turn.say(elsewhere(flow, message))
    if changed:
        shown = prompts.values(flow, state, now)
        turn.say("好的，已将" + "，".join(f"{flow.slots[n].label}改为{shown[n]}" for n in changed) + "。")
    for name in [*filled, *changed]:
        state.attempts.pop(name, None)

    if at_confirm and not reading.took:
        retry = state.step == RETRY_STEP and (said in RETRY_WORDS or (reading.restated and not question))
        if said in YES_WORDS or said.startswith("确认") or retry:
            return await turn.complete(confirmed=True)
        if invalid:
            name, why = next(iter(invalid.items()))
            turn.say(why)
            if name in state.slots:
                # The refused correction changed nothing: say so, and how to go on.
                shown = prompts.values(flow, state, now)
                turn.say(KEPT.format(label=flow.slots[name].label, value=shown[name]))
            return turn.outcome()
        if said in NO_WORDS or said.startswith("修改"):
            turn.say(MODIFY_HOW)
            return turn.outcome()
    if at_confirm and reading.took:
        if not prompts.must_confirm(flow, state):
            # No confirmation in this flow, or nothing is a guess any more (the citizen corrected
            # what was uncertain): the corrected facts go straight to the action.
            return await turn.complete()
        state.step = CONFIRM_STEP
        turn.say(prompts.doubts_text(flow, state, now))
        turn.say(prompts.confirm_text(flow, state, now))
        return turn.outcome()

    if not reading.took and not invalid:
        unknown = _unknown(flow, state, message)
        if unknown:
            # 「不知道编号」: where to find it and the other ways on, then the question again;
            # not a wrong answer, so no attempt is counted.
            turn.say(unknown)
            turn.say(current_prompt(flow, state, now))
            return turn.outcome()
        said_instead = _said_instead(flow, state, message)
        if said_instead:
            # Not a wrong answer but no answer either: the way on, then the question again,
            # counted, so that naming the same business again cannot loop for ever.
            turn.say(said_instead)
            if _offered_nothing_again(flow, state):
                # The second business in a row that is not offered: the citizen wants something
                # this flow cannot do. End plainly rather than show the same list again.
                turn.say(NOT_OFFERED_END.format(title=flow.title))
                return turn.outcome(ended=True)
            return await _failed(turn, {}, quiet=True)

    # A question that names what is already held (「护照办理需要什么材料」 while booking for a
    # passport) is still a question: it gives the flow nothing.
    plain = not (reading.took or (reading.restated and not question) or invalid)
    if not invalid and (question or plain):
        # Nothing for the flow, or an answer worded as a question (「明天上午可以吗？」): the FAQ
        # may answer; only a message that gave the flow nothing may get a menu.
        # A menu only for a question: a statement that gives nothing (「不知道」) is a poor answer,
        # not a query to guess at; a confident FAQ answer is still given.
        free = _free_text_asked(flow, state) if question else ""
        # A question that also answered (「办社保卡要多久能拿到」 while the business is asked) may get
        # a menu too when it asks more than whether its answer will do (「明天上午可以吗？」).
        menu = question and not free and (plain or _asks_beyond_its_answer(flow, state, message))
        answer = await _faq(faq, message.raw, menu=menu, numbered=not takes_digits(flow, state))
        if answer is None and free:
            # 「凭什么让我跑三趟？」 asked for a complaint's description, and no FAQ entry is sure
            # of it: a question here is the citizen's account, not an aside.
            again = read(flow, state, message, correcting=False)
            reading.filled += [n for n in again.filled if n not in reading.filled]
            filled, plain = reading.filled, not reading.took
        if answer or (question and plain):
            # The citizen never loses their place: the aside, then the flow's question again.
            turn.say(answer or NO_ANSWER)
            turn.say(RESUME.format(title=flow.title))
            if reading.took:
                return await turn.settle()
            turn.say(current_prompt(flow, state, now))
            return turn.outcome()
    if reading.restated and not reading.took and not invalid:
        # 「就明天上午」 about what is already held: say it is noted, and ask what is still missing.
        # Quietly counted, so that a reply we keep misreading this way cannot loop for ever.
        turn.say(prompts.ack(flow, state, reading.restated, now))
        return await _failed(turn, {}, quiet=True)

    if not filled and not changed and not invalid and _week_alone(flow, state, message):
        # 「下礼拜吧」 to 「哪一天」: the week is kept (flows.reading); which day of it is asked.
        week = dates.WEEK_WORDS[state.week or 0] + "周"
        turn.say(WEEK_NOTED.format(week=week))
        turn.say(current_prompt(flow, state, now))
        return turn.outcome()
    if not filled and not changed and not invalid and _declines_contact(flow, state, message):
        # 「不用留电话了」 to a form that also asks an optional mobile: that question is answered;
        # what is left is asked, or, when nothing is, the matter is filed without a contact.
        turn.say(NO_CONTACT_NOTED)
        return await turn.settle()
    if not filled and not changed and not invalid and message.small_talk in _LISTENING:
        # 「嗯嗯」「好的」「👍」 while a question is open: the citizen is listening, not answering
        # wrongly. No 'not understood', no attempt counted: the question again, kindly.
        turn.say(NOTED)
        turn.say(current_prompt(flow, state, now))
        return turn.outcome()
    if not filled and not changed:
        return await _failed(turn, invalid)
    if invalid:
        # Some slots filled, one answer was not valid: what was taken, why the rest was not,
        # then ask again what is missing.
        turn.say(prompts.ack(flow, state, filled, now))
        turn.say(next(iter(invalid.values())))
        state.awaiting = [n for n in state.awaiting if n in invalid or n not in state.slots]
        for name in invalid:
            if name not in state.slots:
                state.attempts[name] = state.attempts.get(name, 0) + 1
        turn.say(current_prompt(flow, state, now))
        return turn.outcome()
    said_before = list(turn.parts)
    turn.parts = []
    outcome = await turn.settle()
    if outcome.state is not None and outcome.state.step not in (CONFIRM_STEP, RETRY_STEP, SATISFACTION_STEP):
        # Still asking: say what was understood first (「下周一」 is shown as the date it means).
        outcome.reply = "\n".join(p for p in [*said_before, prompts.ack(flow, state, filled, now), outcome.reply] if p)
    else:
        outcome.reply = "\n".join(p for p in [*said_before, outcome.reply] if p)
    return outcome


ALREADY_DONE = "已经为您办好了，无需再确认{number}。"
UNCHANGED = "登记的{facts}，与您说的一致，无需更改。"
URGED = "收到，工单 {number} 已登记，会尽快转交处理，处理进展可随时回复编号查询。"
ATTACHED = "已将您补充的内容附到工单 {number}，工作人员处理时会一并查看。还有要补充的可以继续发送。"
CONTACT_ADDED = "已将手机号 {mobile} 登记为工单 {number} 的联系电话，处理结果会通过这个号码联系您。"
HOW_TO_ADD = "可以，请直接发送照片、位置或文字说明，会附到工单 {number}，工作人员处理时一并查看。"
# 「能发照片吗」「还能补充吗」: asking whether more can be sent about what was just filed.
_CAN_ADD = re.compile(r"照片|图片|拍照|截图|视频|位置|定位|补充|加点|再说")
NOT_ATTACHED = "抱歉，补充内容暂时没有保存到工单 {number}，请稍后再发送一次，或回复「人工」联系客服。"
# Fewer characters than this, besides the flow's own words, is not a detail worth filing.
DETAIL_MIN_CHARS = 4


def more_details(flow: Flow, message: Utterance) -> bool:
    """Whether a message right after filing is more about the matter filed.

    Said as such (「补充一下」「另外」「地址是…」), or a statement — not a question, not small
    talk, not a request for another service — with some content of its own.
    """
    if message.more_details:
        return True
    if message.question or message.small_talk or message.pick is not None:
        return False
    if any(intent.flow_id != flow.id for intent in message.intents):
        return False
    return parsers.content_length(message.text, noise(flow)) >= DETAIL_MIN_CHARS


def _contact_given(flow: Flow, state: FlowState, message: Utterance) -> str:
    """The mobile a message right after filing gives for an optional contact slot left empty, or ""."""
    for name, hit in message.scan(flow).found.items():
        if flow.slots[name].type == "mobile" and name not in state.slots:
            return str(hit.value)
    return ""


async def attach(turn: FlowTurn, note: str, *, contact: str = "") -> Outcome:
    """Attach `note` to the ticket the flow filed; the rating question stays open."""
    state = turn.state
    try:
        added = await turn.services.add_to_ticket(turn.openid, state.ticket, note)
    except Exception:
        # The ticket stands; the citizen is told the addition did not reach it and can resend.
        log.exception("attaching to a ticket failed", extra={"flow": turn.flow.id})
        turn.say(NOT_ATTACHED.format(number=state.ticket))
        return turn.outcome(resolved=True)
    if not added:
        return turn.outcome(ended=True, passthrough=True)
    if contact:
        turn.say(CONTACT_ADDED.format(number=state.ticket, mobile=parsers.mask_mobile(contact)))
    else:
        turn.say(ATTACHED.format(number=state.ticket))
    return turn.outcome(resolved=True)


async def _amend(turn: FlowTurn, message: Utterance) -> Outcome | None:
    """Right after an action that ran without 「确认」: 「确认」 is harmless, and a correction
    (「名字改成王建国」「改到后天下午」) changes what was done. None: the message is something else."""
    flow, state = turn.flow, turn.state
    said = message.command
    if said in YES_WORDS or said.startswith("确认"):
        turn.say(ALREADY_DONE.format(number=f"（编号：{state.ticket}）" if state.ticket else ""))
        return turn.rate_again()
    if message.question or message.small_talk:
        return None
    before = dict(state.slots)
    reading = read(flow, state, message, correcting=True)
    if not reading.changed:
        reading = bare_name(flow, state, message)
    if not reading.changed or reading.filled:
        # Nothing corrected (or a fact the booking never had): not for this booking.
        state.slots = before
        same = message.correction(flow)
        if same and all(before.get(name) == hit.value for name, hit in same.items()):
            # 「名字打错了，是李淑芬」 when 李淑芬 is what was booked: say so, rather than not understand.
            shown = prompts.values(flow, state, turn.now)
            turn.say(UNCHANGED.format(facts="，".join(f"{flow.slots[n].label}是{shown[n]}" for n in same)))
            return turn.rate_again()
        return None
    shown = prompts.values(flow, state, turn.now)
    turn.say("好的，已将" + "，".join(f"{flow.slots[n].label}改为{shown[n]}" for n in reading.changed) + "。")
    return await turn.amend(reading.changed, before)


def _free_text_asked(flow: Flow, state: FlowState) -> str:
    """The free-text slot asked on its own (a complaint's description), or "".

    A choice that is filled by itself once the rest is given (`otherwise`: the category) does
    not count: the account is still the one thing the citizen must give."""
    focus = [n for n in state.awaiting if n in flow.slots and n not in state.slots]
    required = [n for n in focus if flow.slots[n].required and not flow.slots[n].otherwise]
    if len(required) == 1 and flow.slots[required[0]].type == "text":
        return required[0]
    return ""


def _week_alone(flow: Flow, state: FlowState, message: Utterance) -> bool:
    """「下礼拜吧」 while a date is asked: a week without its day."""
    asked = [n for n in state.awaiting if n in flow.slots and flow.slots[n].type == "date" and n not in state.slots]
    return bool(asked) and state.week is not None and dates.week_named(message.text) is not None


def _declines_contact(flow: Flow, state: FlowState, message: Utterance) -> bool:
    """「不用留电话了」 while an optional mobile is among the questions open."""
    return bool(words.NO_CONTACT.match(message.command)) and any(
        flow.slots[n].type == "mobile" and not flow.slots[n].required for n in state.awaiting if n in flow.slots
    )


def _unknown(flow: Flow, state: FlowState, message: Utterance) -> str:
    """「不知道编号」: the slot's `unknown` help (where it is printed, other ways), or ""."""
    if not message.dont_know:
        return ""
    for name in state.awaiting:
        if name in flow.slots and name not in state.slots and flow.slots[name].unknown:
            return flow.slots[name].unknown
    return ""


def _said_instead(flow: Flow, state: FlowState, message: Utterance) -> str:
    """What to say to an answer naming a business the flow does not offer, or "".

    Where it is done instead (`elsewhere`), or plainly that it cannot be done here
    (`not_offered`); the options follow.
    """
    focus = [n for n in state.awaiting if n in flow.slots and n not in state.slots]
    if message.question:
        return ""
    place = elsewhere(flow, message)
    if place:
        return place
    if len(focus) == 1 and flow.slots[focus[0]].not_offered and message.small_talk == "":
        said = _NAMED_AS.sub("", words.around(message.command)) or message.command
        if 2 <= len(said) <= 20 and said not in YES_WORDS and said not in NO_WORDS:
            return flow.slots[focus[0]].not_offered.format(said=said)
    return ""


# 「就是狗证」「我要办养犬登记」: the words around the name of what is wanted, not quoted back.
_NAMED_AS = re.compile(r"^(?:就是|是|我要办理?|我想办理?|要办理?|想办理?|办理|办)")


def _offered_nothing_again(flow: Flow, state: FlowState) -> bool:
    """Whether the slot asked has now been answered with something not offered `NOT_OFFERED_LIMIT` times."""
    focus = [n for n in state.awaiting if n in flow.slots and n not in state.slots]
    if len(focus) != 1:
        return False
    return state.attempts.get(focus[0], 0) + 1 >= NOT_OFFERED_LIMIT


async def _failed(turn: FlowTurn, invalid: dict[str, str], *, quiet: bool = False) -> Outcome:
    """Nothing usable for what was asked: say so (unless `quiet`), count it, and ask again."""
    flow, state = turn.flow, turn.state
    understood = bool(invalid)
    focus = [n for n in state.awaiting if n in flow.slots and n not in state.slots]
    if state.step == CONFIRM_STEP:
        turn.say(CONFIRM_AGAIN)
        return turn.outcome(understood=understood)
    if state.step == RETRY_STEP:
        turn.say(prompts.RETRY_HOW.format(verb=prompts.RETRY_VERBS[flow.complete.action.type]))
        return turn.outcome(understood=understood)
    if invalid and not any(n in focus for n in invalid):
        # 「周六能办吗」 with the date already given: say why not, then ask what is still missing.
        # The message was not a wrong answer to the question asked, so no attempt is counted.
        turn.say(next(iter(invalid.values())))
        turn.say(current_prompt(flow, state, turn.now))
        return turn.outcome()
    name = next((n for n in focus if n in invalid), focus[0] if focus else "")
    if not name:
        # Nothing left to ask at this step (a state saved by an older flow file): move on.
        return await turn.settle()
    slot = flow.slots[name]
    state.attempts[name] = state.attempts.get(name, 0) + 1
    last = state.attempts[name] >= slot.max_attempts
    if quiet:
        pass
    elif name in invalid or len(focus) == 1 or last:
        turn.say(invalid.get(name) or parsers.error_text(slot))
    else:
        turn.say(NOT_UNDERSTOOD)
    if last:
        # Bounded: after the last attempt, the ways out, then the question once more.
        state.attempts[name] = 0
        turn.say(GIVE_UP)
    if slot.type == "choice" or state.attempts[name] >= 2 or last:
        # A more concrete re-ask: the numbered options, or the slot's own question alone.
        state.awaiting = [name]
        turn.say(prompts.single_prompt(slot))
    else:
        turn.say(current_prompt(flow, state, turn.now))
    return turn.outcome(understood=understood)






def awaiting(state: FlowState) -> list[str]:
    if state.step in (CONFIRM_STEP, RETRY_STEP):
        return ["confirm"]
    return list(state.awaiting)
