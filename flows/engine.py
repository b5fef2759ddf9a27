"""The flow engine: one small interpreter for every `flows/*.yaml` transition table.

Pure: it takes a flow, the user's `FlowState`, the message and the time, and returns the reply
text and the next state. The only I/O is through the `Services` port (tickets, backends).

Each message, in this order (docs/reference dialog-systems.md §4, recommendation 3):
1. control words: 人工, 取消/退出, 重新开始, 返回/上一步 (takes back the last answer), 菜单/帮助
   and greetings (answered, then the question again);
2. every open slot is searched (several can fill at once); a filled slot changes only on a
   correction (「不对，改成后天」, 「日期改成12月3日」) or at the confirmation;
3. nothing for the flow: the citizen never loses their place. A question gets the FAQ's answer,
   its menu or a kind 'no answer yet', then the current prompt, and costs no attempt; anything
   else counts as a failed attempt at the slots asked, bounded by `max_attempts`;
4. steps whose slots are all filled are passed through, so only missing slots are ever asked;
5. the completion action runs; if it fails the flow waits at `retry`, where 「确认」 runs it again.

A saved state is made to fit its flow first (`_fits`): nothing a flow file no longer has can make
a turn raise; a state on a step that is gone starts the flow afresh with an explanation.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from flows import booking, rating
from flows import slots as parsers
from flows.schema import CONFIRM_STEP, DONE, RETRY_STEP, SATISFACTION_STEP, Flow, Satisfaction, Slot, Step, holds
from flows.state import FlowState, Snapshot
from flows.templates import render
from handlers.ports import Services

log = logging.getLogger("wxbot.flows")



class FaqAnswer(Protocol):
    """What the FAQ has to say about a message asked mid-flow, or None; sync or async.

    `menu`: a 「您是不是想问」 menu may be offered (the message gave the flow nothing, so it is
    a question, not an answer worded as one). `numbered`: the menu may be numbered, because a
    bare digit is not an answer to the flow right now (see `takes_digits`).
    """

    def __call__(self, text: str, *, menu: bool, numbered: bool) -> str | Awaitable[str | None] | None: ...


CANCEL_WORDS = frozenset(
    {"取消", "退出", "取消办理", "退出办理", "不办了", "算了", "结束", "不用办了", "放弃"}
)
BACK_WORDS = frozenset({"返回", "上一步", "返回上一步", "回到上一步", "后退", "退回"})
RESTART_WORDS = frozenset({"重新开始", "重来", "重新填写", "从头开始", "重新办理"})
HANDOFF_WORDS = frozenset({"人工", "转人工", "人工客服", "人工服务", "找人工"})
HELP_WORDS = frozenset({"菜单", "主菜单", "帮助", "help", "怎么操作", "怎么填", "不会填", "不会弄", "怎么弄"})
GREETING_WORDS = frozenset({"你好", "您好", "在吗", "在不在", "有人吗", "hello", "hi", "喂", "你好啊", "您好啊"})
YES_WORDS = frozenset({
    "确认", "确定", "是", "是的", "对", "对的", "没错", "正确", "好", "好的", "可以", "没问题",
    "提交", "确认提交", "确认无误", "无误", "1", "ok", "嗯", "行",
})
NO_WORDS = frozenset({"修改", "不对", "有误", "不正确", "错了", "否", "要改", "改一下", "2"})
# Said instead of a rating: the flow ends with a kind word, and the message is not an FAQ question.
CLOSING_WORDS = frozenset({
    "谢谢", "谢谢你", "谢谢你们", "谢谢啦", "多谢", "感谢", "不用", "不用了", "不用谢", "不评价", "不用评价", "好的",
    "好", "嗯", "嗯嗯", "ok", "知道了", "收到", "明白了", "没有了", "没了", "没事了", "再见", "拜拜",
})
CLOSING = "不客气，祝您办事顺利！如还有其他问题，请直接输入。"
# 「日期改成后天」: which slot (by its label) and the new words.
_TARGETED = re.compile(
    r"(?P<label>[\u4e00-\u9fa5A-Za-z]{1,8}?)(?:写错了|填错了|弄错了|错了|不对|有误)?[\s，,]*"
    r"(?:改成|改为|换成|改到|换到|应该是|应为)\s*(?P<value>.+)"
)
# Everyday words for a field, by slot type (「名字改成…」 for 预约人姓名, 「电话改成…」 for 手机号码).
_FIELD_WORDS = {
    "date": ("日期", "时间", "日子", "哪天", "那天", "天"),
    "period": ("时段", "上下午", "上午下午"),
    "mobile": ("手机", "电话", "号码", "联系方式"),
    "name": ("名字", "姓名", "名"),
    "id_number": ("身份证",),
}
_QUESTION = re.compile(
    r"[?？]|吗|怎么|怎样|如何|什么|啥|哪|几点|几天|多少|多久|多长|为什么|为啥|能否|能不能|可不可以|可以不|"
    r"是否|有没有|有无|要不要|需不需要|是不是|请问"
)

CANCELLED = "好的，已为您取消「{title}」。如还有其他问题，请直接输入。"
RESTARTED = "好的，我们重新开始办理「{title}」。"
BACK_AT_START = "已经是第一步了。"
WENT_BACK = "好的，回到上一步。"
# How many answers 返回 can take back.
UNDO_DEPTH = 10
# 「SQ2026…查一下」: words besides a bare identifier that still leave it a bare identifier.
IDENTIFIER_EXTRA_CHARS = 4
GIVE_UP = "如果不方便填写，您可以回复「人工」转人工客服，或回复「退出」结束办理；也可以按下面的提示再试一次。"
NOT_UNDERSTOOD = "抱歉，没有识别出您的回复。"
KEPT = "{label}仍为{value}。您可以换一个{label}，或回复「确认」按原信息提交。"
CONFIRM_AGAIN = "请回复「确认」提交，或直接说要修改的内容，回复「取消」放弃。"
MODIFY_HOW = "请直接告诉我要修改的内容，例如「日期改成后天」「手机号改为13912345678」。"
RESUME = "我们继续办理「{title}」："
HELP = (
    "您正在办理「{title}」。按提示回复即可，几项信息可以一句话说完。"
    "回复「返回」撤回上一步，「重新开始」从头填写，「取消」结束办理，「人工」联系人工客服。"
)
GREETING = "您好！"
# A question mid-flow that the FAQ cannot answer: not a wrong answer, so no attempt is counted.
NO_ANSWER = "抱歉，这个问题暂时没有找到答案，您可以办完后换个说法再问，或回复「人工」咨询。"
TICKET_FAILED = "抱歉，提交时系统出现问题，您的信息还在。请稍后回复「确认」重新提交，或回复「人工」联系客服。"
BACKEND_TIMEOUT = "抱歉，查询系统响应较慢，暂时没有查到结果。请稍后回复「确认」重新查询，或回复「人工」联系客服。"
BACKEND_DOWN = "抱歉，查询系统暂时无法访问。请稍后回复「确认」重新查询，或回复「人工」联系客服。"
# After a failed action: what was entered, then how to retry (the verb follows the action).
RETRY_HEAD = "您填写的信息都还在："
RETRY_HOW = "回复「确认」重新{verb}，回复「取消」放弃，或回复「人工」联系客服。"
RETRY_VERBS = {"ticket": "提交", "booking": "提交", "http": "查询", "none": "办理"}
RETRY_WORDS = frozenset({"重试", "再试", "再试一次", "重新提交", "重新查询", "再查", "再查一次", "再查一下"})
# A saved state whose step the flow no longer has (edited without a new version).
FLOW_UPDATED = "「{title}」的办理流程已更新，需要请您重新填写，给您带来不便敬请谅解。"
RECORDED = "已记录：{facts}。"


@dataclass(slots=True)
class Outcome:
    reply: str
    # None: the flow is over (finished, cancelled); the caller clears it from the session.
    state: FlowState | None
    step: str = ""
    resolved: bool = False
    satisfaction: str = ""
    handoff: bool = False
    # The message was not for the flow (an unrelated message after the satisfaction question):
    # the flow is over and the caller should route the message as if there were no flow.
    passthrough: bool = False
    # False when the message was neither an answer, a command nor an FAQ question.
    understood: bool = True
    filled: list[str] = field(default_factory=list)


def command(text: str) -> str:
    return text.strip().strip("。.!！~～ ").lower()


def expired(state: FlowState, now: datetime, timeout_s: float) -> bool:
    last = state.updated_at or state.started_at
    return bool(last) and now.timestamp() - last > timeout_s


def _today(now: datetime) -> date:
    return now.date()


def values(flow: Flow, state: FlowState, now: datetime) -> dict[str, str]:
    """Slot values as shown to the user, for templates."""
    shown = {"title": flow.title}
    for name, value in state.slots.items():
        slot = flow.slots.get(name)
        shown[name] = parsers.display(slot, value, _today(now)) if slot else value
    return shown


def _choice_list(slot: Slot) -> str:
    return "\n".join(f"{i}. {opt.value}" for i, opt in enumerate(slot.options, start=1))


def _single_prompt(slot: Slot) -> str:
    if slot.type == "choice":
        return f"{slot.prompt}\n{_choice_list(slot)}\n（回复数字即可）"
    return slot.prompt


def _missing(flow: Flow, state: FlowState, step: Step) -> list[str]:
    return [n for n in step.ask if n not in state.slots and flow.slots[n].required]


def _to_ask(flow: Flow, state: FlowState, step: Step) -> list[str]:
    required = _missing(flow, state, step)
    if not required:
        return []
    # Optional slots ride along with required ones once; never asked on their own.
    optional = [
        n for n in step.ask
        if n not in state.slots and not flow.slots[n].required and n not in state.asked
    ]
    return [n for n in step.ask if n in required or n in optional]


def prompt_for(flow: Flow, names: list[str], now: datetime, state: FlowState) -> str:
    if len(names) == 1:
        return render(_single_prompt(flow.slots[names[0]]), values(flow, state, now))
    lines = ["请告诉我以下信息（可以一句话说完）："]
    for name in names:
        slot = flow.slots[name]
        hint = slot.hint
        if slot.type == "choice" and not hint:
            hint = "、".join(opt.value for opt in slot.options)
        extra = "（可不填）" if not slot.required else ""
        lines.append(f"· {slot.label}{extra}" + (f"：{hint}" if hint else ""))
    return "\n".join(lines)


def _confirm_text(flow: Flow, state: FlowState, now: datetime) -> str:
    assert flow.confirm is not None
    return render(flow.confirm.prompt, values(flow, state, now))


def _retry_text(flow: Flow, state: FlowState, now: datetime) -> str:
    shown = values(flow, state, now)
    lines = [RETRY_HEAD, *(f"{slot.label}：{shown[n]}" for n, slot in flow.slots.items() if n in state.slots)]
    lines.append(RETRY_HOW.format(verb=RETRY_VERBS[flow.complete.action.type]))
    return "\n".join(lines)


def current_prompt(flow: Flow, state: FlowState, now: datetime) -> str:
    """What the flow is waiting for, as it would ask it now (repeated after a digression)."""
    if state.step == CONFIRM_STEP:
        return _confirm_text(flow, state, now)
    if state.step == RETRY_STEP:
        return _retry_text(flow, state, now)
    if state.step == SATISFACTION_STEP:
        return flow.satisfaction.prompt if flow.satisfaction else ""
    names = state.awaiting or _to_ask(flow, state, flow.step(state.step))
    return prompt_for(flow, names, now, state) if names else ""


def new_state(flow: Flow, now: datetime) -> FlowState:
    stamp = now.timestamp()
    return FlowState(
        flow_id=flow.id, version=flow.version, step=flow.first_step, started_at=stamp, updated_at=stamp
    )


def _noise(flow: Flow) -> list[str]:
    words = [*flow.triggers.phrases, flow.title]
    for keyword in flow.triggers.keywords:
        words.extend(keyword.split("+"))
    return words


def _next_step(step: Step, slots: Mapping[str, str]) -> str:
    if isinstance(step.next, str):
        return step.next
    for branch in step.next:
        if holds(branch.when, dict(slots)):
            return branch.goto
    return DONE


def _ack(flow: Flow, state: FlowState, names: list[str], now: datetime) -> str:
    shown = values(flow, state, now)
    facts = "；".join(f"{slot.label} {shown[n]}" for n, slot in flow.slots.items() if n in names)
    return RECORDED.format(facts=facts) if facts else ""


@dataclass(slots=True)
class Reading:
    """What one message did to the slots."""

    filled: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    # Values the message gave again, unchanged (「SQ2026…」 re-sent to look it up once more).
    restated: list[str] = field(default_factory=list)
    # Slot → why what the user wrote for it cannot be accepted.
    invalid: dict[str, str] = field(default_factory=dict)

    @property
    def took(self) -> bool:
        return bool(self.filled or self.changed)


class _Turn:
    """One message's work on one state; collects the reply parts as it goes."""

    def __init__(self, flow: Flow, state: FlowState, now: datetime, services: Services, openid: str) -> None:
        self.flow = flow
        self.state = state
        self.now = now
        self.services = services
        self.openid = openid
        self.parts: list[str] = []
        # The completion action ran this turn (its reply says all there is to say).
        self.acted = False

    def say(self, text: str) -> None:
        if text:
            self.parts.append(text)

    def reply(self) -> str:
        return "\n".join(p for p in self.parts if p)

    def outcome(
        self,
        *,
        ended: bool = False,
        resolved: bool = False,
        satisfaction: str = "",
        handoff: bool = False,
        passthrough: bool = False,
        understood: bool = True,
    ) -> Outcome:
        return Outcome(
            self.reply(),
            None if ended else self.state,
            self.state.step,
            resolved=resolved,
            satisfaction=satisfaction,
            handoff=handoff,
            passthrough=passthrough,
            understood=understood,
        )

    # -- reading the message ------------------------------------------------------------------
    def read(self, text: str, *, correcting: bool, question: bool = False) -> Reading:
        """Fill slots from `text` (a filled slot changes only on a correction)."""
        flow, state = self.flow, self.state
        focus = [n for n in state.awaiting if n in flow.slots]
        names = list(flow.slots)
        found = parsers.extract(
            flow.slots, names, text, _today(self.now), focus, _noise(flow), residual=not question
        )
        targeted = self._targeted(text)
        reading = Reading()
        cue = correcting or bool(parsers.CORRECTION_CUE.search(text))
        for name, hit in {**found.found, **targeted}.items():
            old = state.slots.get(name)
            if old is None:
                state.slots[name] = hit.value
                reading.filled.append(name)
            elif old == hit.value:
                reading.restated.append(name)
            elif cue or name in targeted:
                state.slots[name] = hit.value
                reading.changed.append(name)
        taken = {*reading.filled, *reading.changed}
        reading.invalid = {n: msg for n, msg in found.invalid.items() if n not in taken}
        return reading

    def _targeted(self, text: str) -> dict[str, parsers.Found]:
        """「手机号改为139…」: the words after 改成 are read for the slot the label names."""
        m = _TARGETED.search(text)
        if m is None:
            return {}
        label = m["label"].removeprefix("把").removesuffix("的")
        for name, slot in self.flow.slots.items():
            words = (slot.label, *_FIELD_WORDS.get(slot.type, ()))
            if label and any(label in word or word in label for word in words):
                found = parsers.extract(self.flow.slots, [name], m["value"], _today(self.now), [name])
                if name in found.found:
                    return {name: found.found[name]}
        return {}

    # -- moving on ---------------------------------------------------------------------------
    async def settle(self) -> Outcome:
        """Pass every step whose slots are filled; ask what is missing, confirm or complete."""
        flow, state = self.flow, self.state
        for _ in range(len(flow.steps) + 1):
            if state.step in (CONFIRM_STEP, RETRY_STEP, DONE):
                break
            step = flow.step(state.step)
            names = _to_ask(flow, state, step)
            if names:
                state.awaiting = names
                state.asked.extend(n for n in names if n not in state.asked)
                self.say(prompt_for(flow, names, self.now, state))
                return self.outcome()
            target = _next_step(step, state.slots)
            state.history.append(step.id)
            state.step = target
            if state.step != DONE:
                self.say(render(flow.step(state.step).say, values(flow, state, self.now)))
        state.awaiting = []
        if flow.confirm is not None and state.step == DONE:
            state.step = CONFIRM_STEP
        if state.step == CONFIRM_STEP:
            self.say(_confirm_text(flow, state, self.now))
            return self.outcome()
        if state.step == RETRY_STEP:
            self.say(_retry_text(flow, state, self.now))
            return self.outcome()
        return await self.complete()

    async def complete(self) -> Outcome:
        flow, state = self.flow, self.state
        self.acted = True
        shown = values(flow, state, self.now)
        action = flow.complete.action
        if action.type == "ticket":
            fields = {flow.slots[n].label: shown[n] for n in flow.slots if n in state.slots}
            try:
                shown["ticket"] = state.ticket = await self.services.create_ticket(flow.id, self.openid, fields)
            except Exception:
                # The citizen keeps what they entered and can confirm again; ops see the log.
                log.exception("ticket creation failed", extra={"flow": flow.id})
                return self._retry_later(TICKET_FAILED)
        elif action.type == "booking":
            fields = {flow.slots[n].label: shown[n] for n in flow.slots if n in state.slots}
            try:
                placed = await booking.place(flow, state.slots, fields, self.services, self.openid, _today(self.now))
            except Exception:
                log.exception("booking failed", extra={"flow": flow.id})
                return self._retry_later(TICKET_FAILED)
            if not placed.number:
                return await self._booking_refused(placed)
            shown["ticket"] = state.ticket = placed.number
        elif action.type == "http":
            params = {key: render(tpl, shown) for key, tpl in action.params.items()}
            result = await self.services.call_endpoint(action.endpoint, params)
            if not result.ok:
                text = flow.complete.timeout if result.error == "timeout" else flow.complete.unavailable
                default = BACKEND_TIMEOUT if result.error == "timeout" else BACKEND_DOWN
                return self._retry_later(render(text or default, shown))
            if result.data.get("found") is False and flow.complete.not_found:
                self.say(render(flow.complete.not_found, shown))
                return await self._ask_last_step_again()
            shown.update({f"result.{k}": str(v) for k, v in result.data.items()})
        for reply in flow.complete.replies:
            if holds(reply.when, state.slots):
                self.say(render(reply.text, shown))
                break
        state.resolved = True
        state.awaiting = []
        if flow.satisfaction is None:
            return self.outcome(ended=True, resolved=True)
        state.step = SATISFACTION_STEP
        state.awaiting = ["satisfaction"]
        self.say(flow.satisfaction.prompt)
        return self.outcome(resolved=True)

    async def _booking_refused(self, placed: booking.Placed) -> Outcome:
        """Full: the nearest free times, and the date and period asked again. Duplicate: the flow ends."""
        self.say(placed.refusal)
        if not placed.reask:
            return self.outcome(ended=True)
        for name in placed.reask:
            self.state.slots.pop(name, None)
        self.state.step = self.flow.first_step
        self.state.history = []
        return await self.settle()

    def _retry_later(self, text: str) -> Outcome:
        """The action failed: keep every fact and wait for 「确认」 to run it again.

        Whatever the flow's shape (a confirmation or not, one step or branches), the state must
        stay somewhere a later 「确认」 is understood — never at `done`, which is not a step.
        """
        self.state.step = RETRY_STEP
        self.state.awaiting = []
        self.say(text)
        return self.outcome()

    async def _ask_last_step_again(self) -> Outcome:
        """The backend knows no such record (a mistyped number): ask the last step's facts again."""
        flow, state = self.flow, self.state
        last = flow.step(state.history.pop()) if state.history else flow.steps[0]
        if not any(flow.slots[n].required for n in last.ask):
            return self.outcome(ended=True)
        for name in last.ask:
            state.slots.pop(name, None)
        state.step = last.id
        return await self.settle()


def is_question(text: str) -> bool:
    return bool(_QUESTION.search(text))


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
    flow: Flow, text: str, now: datetime, services: Services, openid: str = ""
) -> Outcome:
    """Start `flow`; the triggering text is read for every slot."""
    state = new_state(flow, now)
    fresh = state.snapshot()
    turn = _Turn(flow, state, now, services, openid)
    reading = turn.read(text, correcting=False) if text.strip() else Reading()
    if flow.intro:
        turn.say(flow.intro)
    if reading.filled and state.step == flow.first_step:
        turn.say(_ack(flow, state, reading.filled, now))
    for message in reading.invalid.values():
        # 「明天」 on a Friday evening: say why the date was not taken before asking for another.
        turn.say(message)
    parts = list(turn.parts)
    turn.parts = []
    outcome = await turn.settle()
    _remember(outcome, fresh)
    if outcome.state is not None and outcome.state.step != CONFIRM_STEP and not turn.acted:
        # The introduction and what we understood, then the question.
        outcome.reply = "\n".join([*parts, outcome.reply])
    outcome.filled = reading.filled
    return outcome


def _satisfaction(text: str) -> str:
    """The 好差评 level of a short reply (flows.rating), or ""."""
    if is_question(text):
        return ""
    return rating.parse(text)


def _remember(outcome: Outcome, before: Snapshot) -> None:
    """Keep where the flow stood before this message, if the message moved it."""
    state = outcome.state
    if state is None or state.step == SATISFACTION_STEP:
        return
    now = state.snapshot()
    if (now.step, now.slots) != (before.step, before.slots):
        state.undo = [*state.undo, before][-UNDO_DEPTH:]


async def advance(
    flow: Flow,
    state: FlowState,
    text: str,
    now: datetime,
    services: Services,
    openid: str = "",
    faq: FaqAnswer | None = None,
) -> Outcome:
    """Continue `state` (a copy is changed, never the caller's) with the user's message."""
    before = state.snapshot()
    outcome = await _advance(flow, state, text, now, services, openid, faq)
    if command(text) not in BACK_WORDS:
        _remember(outcome, before)
    return outcome


async def _advance(
    flow: Flow,
    state: FlowState,
    text: str,
    now: datetime,
    services: Services,
    openid: str,
    faq: FaqAnswer | None,
) -> Outcome:
    state = state.model_copy(deep=True)
    state.updated_at = now.timestamp()
    turn = _Turn(flow, state, now, services, openid)
    said = command(text)

    if state.step == SATISFACTION_STEP:
        value = _satisfaction(text)
        if value:
            rated = flow.satisfaction or Satisfaction()
            turn.say(rated.sorry if value in rating.LOW else rated.thanks)
            return turn.outcome(ended=True, satisfaction=value)
        if said in CLOSING_WORDS:
            turn.say(CLOSING)
            return turn.outcome(ended=True)
        if identifier_only(flow, text, now):
            # 「SQ2026…」 right after a lookup: look that one up too.
            return await start(flow, text, now, services, openid)
        return turn.outcome(ended=True, passthrough=True)

    if said in HANDOFF_WORDS:
        return turn.outcome(handoff=True)
    if said in CANCEL_WORDS or (said.startswith("取消") and len(said) <= 6):
        turn.say(CANCELLED.format(title=flow.title))
        return turn.outcome(ended=True)
    if not _fits(flow, state):
        # Saved before the flow was edited (same version, a step removed): start it afresh.
        outcome = await start(flow, text, now, services, openid)
        outcome.reply = "\n".join([FLOW_UPDATED.format(title=flow.title), outcome.reply])
        return outcome
    if said in RESTART_WORDS:
        fresh = new_state(flow, now)
        turn = _Turn(flow, fresh, now, services, openid)
        turn.say(RESTARTED.format(title=flow.title))
        return await turn.settle()
    if said in BACK_WORDS:
        return await _back(turn)
    if said in HELP_WORDS or said in GREETING_WORDS:
        # Not an answer and not a wrong one: say what can be done here, then ask again.
        turn.say(HELP.format(title=flow.title) if said in HELP_WORDS else GREETING + RESUME.format(title=flow.title))
        turn.say(current_prompt(flow, state, now))
        return turn.outcome()

    at_confirm = state.step in (CONFIRM_STEP, RETRY_STEP)
    question = is_question(text)
    reading = turn.read(text, correcting=at_confirm, question=question)
    filled, changed, invalid = reading.filled, reading.changed, reading.invalid
    if changed:
        shown = values(flow, state, now)
        turn.say("好的，已将" + "，".join(f"{flow.slots[n].label}改为{shown[n]}" for n in changed) + "。")
    for name in [*filled, *changed]:
        state.attempts.pop(name, None)

    if at_confirm and not reading.took:
        retry = state.step == RETRY_STEP and (said in RETRY_WORDS or (reading.restated and not question))
        if said in YES_WORDS or said.startswith("确认") or retry:
            return await turn.complete()
        if invalid:
            name, why = next(iter(invalid.items()))
            turn.say(why)
            if name in state.slots:
                # The refused correction changed nothing: say so, and how to go on.
                shown = values(flow, state, now)
                turn.say(KEPT.format(label=flow.slots[name].label, value=shown[name]))
            return turn.outcome()
        if said in NO_WORDS or said.startswith("修改"):
            turn.say(MODIFY_HOW)
            return turn.outcome()
    if at_confirm and reading.took:
        if flow.confirm is None:
            # No confirmation in this flow: the corrected facts go straight to the action again.
            return await turn.complete()
        state.step = CONFIRM_STEP
        turn.say(_confirm_text(flow, state, now))
        return turn.outcome()

    # A question that names what is already held (「护照办理需要什么材料」 while booking for a
    # passport) is still a question: it gives the flow nothing.
    plain = not (reading.took or (reading.restated and not question) or invalid)
    if not invalid and (question or plain):
        # Nothing for the flow, or an answer worded as a question (「明天上午可以吗？」): the FAQ
        # may answer; only a message that gave the flow nothing may get a menu.
        # A menu only for a question: a statement that gives nothing (「不知道」) is a poor answer,
        # not a query to guess at; a confident FAQ answer is still given.
        answer = await _faq(faq, text, menu=plain and question, numbered=not takes_digits(flow, state))
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
        turn.say(_ack(flow, state, reading.restated, now))
        return await _failed(turn, {}, quiet=True)

    if not filled and not changed:
        return await _failed(turn, invalid)
    if invalid:
        # Some slots filled, one answer was not valid: what was taken, why the rest was not,
        # then ask again what is missing.
        turn.say(_ack(flow, state, filled, now))
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
        outcome.reply = "\n".join(p for p in [*said_before, _ack(flow, state, filled, now), outcome.reply] if p)
    else:
        outcome.reply = "\n".join(p for p in [*said_before, outcome.reply] if p)
    return outcome


async def _failed(turn: _Turn, invalid: dict[str, str], *, quiet: bool = False) -> Outcome:
    """Nothing usable for what was asked: say so (unless `quiet`), count it, and ask again."""
    flow, state = turn.flow, turn.state
    understood = bool(invalid)
    focus = [n for n in state.awaiting if n in flow.slots and n not in state.slots]
    if state.step == CONFIRM_STEP:
        turn.say(CONFIRM_AGAIN)
        return turn.outcome(understood=understood)
    if state.step == RETRY_STEP:
        turn.say(RETRY_HOW.format(verb=RETRY_VERBS[flow.complete.action.type]))
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
        turn.say(_single_prompt(slot))
    else:
        turn.say(current_prompt(flow, state, turn.now))
    return turn.outcome(understood=understood)


async def _back(turn: _Turn) -> Outcome:
    """Take back the last answer: the flow stands where it stood before it, and asks that again."""
    flow, state = turn.flow, turn.state
    if not state.undo:
        turn.say(BACK_AT_START)
        turn.say(current_prompt(flow, state, turn.now))
        return turn.outcome()
    previous = state.undo.pop()
    state.step, state.slots, state.history = previous.step, previous.slots, previous.history
    state.awaiting = []
    state.attempts = {}
    turn.say(WENT_BACK)
    return await turn.settle()


def _fits(flow: Flow, state: FlowState) -> bool:
    """Make a saved state fit `flow`; False when its step is gone and the flow must start afresh.

    A flow file edited without a new version (a step or slot removed) must never make a turn
    raise: names the flow no longer has are dropped, and a state left at `done` by a failed
    action (before `retry` existed) is put where its promised 「确认」 works.
    """
    steps = {step.id for step in flow.steps}
    state.slots = {n: v for n, v in state.slots.items() if n in flow.slots}
    state.attempts = {n: c for n, c in state.attempts.items() if n in flow.slots}
    state.asked = [n for n in state.asked if n in flow.slots]
    state.history = [s for s in state.history if s in steps]
    # An older answer to take back must fit as well; one that does not is forgotten.
    allowed = steps | {RETRY_STEP} | ({CONFIRM_STEP} if flow.confirm is not None else set())
    state.undo = [u for u in state.undo if u.step in allowed and all(n in flow.slots for n in u.slots)]
    if state.step == DONE and not state.resolved:
        state.step = RETRY_STEP
    if state.step == CONFIRM_STEP and flow.confirm is None:
        state.step = RETRY_STEP
    if state.step in (CONFIRM_STEP, RETRY_STEP):
        state.awaiting = []
        # Every slot on the way to the action must still be there (a required slot may be new).
        return _path_filled(flow, state)
    state.awaiting = [n for n in state.awaiting if n in flow.slots]
    return state.step in steps


def _path_filled(flow: Flow, state: FlowState) -> bool:
    step_id = flow.first_step
    for _ in range(len(flow.steps) + 1):
        if step_id == DONE:
            return True
        step = flow.step(step_id)
        if _missing(flow, state, step):
            return False
        step_id = _next_step(step, state.slots)
    return False


def awaiting(state: FlowState) -> list[str]:
    if state.step in (CONFIRM_STEP, RETRY_STEP):
        return ["confirm"]
    return list(state.awaiting)


def mentions(flow: Flow, text: str, now: datetime) -> set[str]:
    """The slots a message speaks of, taken or refused (「周六」 names a date even if it is refused)."""
    found = parsers.extract(flow.slots, list(flow.slots), text, _today(now), (), _noise(flow))
    return {*found.found, *found.invalid}


def identifier_only(flow: Flow, text: str, now: datetime) -> bool:
    """Whether `text` is little more than an identifier the flow starts with (a bare 受理编号)."""
    names = [n for n in flow.steps[0].ask if flow.slots[n].type in ("regex", "id_number")]
    found = parsers.extract(flow.slots, names, text, _today(now), names).found
    for hit in found.values():
        rest = text[: hit.start] + text[hit.end :]
        if parsers.content_length(rest, _noise(flow)) <= IDENTIFIER_EXTRA_CHARS:
            return True
    return False


def prefill(flow: Flow, text: str, now: datetime) -> list[str]:
    """The slots a message would fill if it started `flow` (no state is changed)."""
    found = parsers.extract(flow.slots, list(flow.slots), text, _today(now), (), _noise(flow))
    return list(found.found)
