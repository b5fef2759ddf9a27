"""What a flow says: its questions, the confirmation, the retry notice and what was understood.

Pure functions of the flow, the state and the time; the engine decides *when* each is said.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from flows import slots as parsers
from flows.schema import CONFIRM_STEP, DONE, RETRY_STEP, SATISFACTION_STEP, Flow, Slot, Step, holds
from flows.state import FlowState
from flows.templates import render

# After a failed action: what was entered, then how to retry (the verb follows the action).
RETRY_HEAD = "您填写的信息都还在："


RETRY_HOW = "回复「确认」重新{verb}，回复「取消」放弃，或回复「人工」联系客服。"


RETRY_VERBS = {"ticket": "提交", "booking": "提交", "http": "查询", "none": "办理"}


RECORDED = "已记录：{facts}。"


# After an action that ran without 「确认」: every value, as recorded.
READ_BACK = "登记的信息：{facts}。"
# Before a confirmation asked because something was a guess: which values, and why.
DOUBTS = "请特别留意：{facts}。"
DOUBT_REASONS = {
    "homophone": "按同音字理解",
    "partial": "按您说的部分字词理解",
    "week": "「下」可能连着前面的字，请核对是哪一周",
    "month": "这个月的这一天已过，按下个月理解",
    "several": "您提到了不止一天",
    "implicit": "已按您新说的替换了原来的",
    "name": "请确认姓名无误",
}


def values(flow: Flow, state: FlowState, now: datetime) -> dict[str, str]:
    """Slot values as shown to the user, for templates."""
    shown = {"title": flow.title}
    for name, value in state.slots.items():
        slot = flow.slots.get(name)
        shown[name] = parsers.display(slot, value, now.date()) if slot else value
    return shown


def choice_list(slot: Slot) -> str:
    return "\n".join(f"{i}. {opt.value}" for i, opt in enumerate(slot.options, start=1))


def single_prompt(slot: Slot) -> str:
    if slot.type == "choice":
        return f"{slot.prompt}\n{choice_list(slot)}\n（回复数字即可）"
    return slot.prompt


def missing(flow: Flow, state: FlowState, step: Step) -> list[str]:
    return [n for n in step.ask if n not in state.slots and flow.slots[n].required]


def take_otherwise(flow: Flow, state: FlowState, step: Step) -> None:
    """Fill the choices that have an `otherwise` once nothing else the step needs is missing.

    Only a choice already asked (shown in a prompt): a first message that reads as a complaint is
    never filed unseen — 「12345可以反映什么问题」 taken for one still shows the form first."""
    left = missing(flow, state, step)
    if left and all(flow.slots[n].otherwise and n in state.asked for n in left):
        for name in left:
            state.slots[name] = flow.slots[name].otherwise


def to_ask(flow: Flow, state: FlowState, step: Step) -> list[str]:
    required = missing(flow, state, step)
    if not required:
        return []
    # Optional slots ride along with required ones once; never asked on their own.
    optional = [n for n in step.ask if n not in state.slots and not flow.slots[n].required and n not in state.asked]
    return [n for n in step.ask if n in required or n in optional]


def prompt_for(flow: Flow, names: list[str], now: datetime, state: FlowState) -> str:
    if len(names) == 1:
        return render(single_prompt(flow.slots[names[0]]), values(flow, state, now))
    lines = ["请告诉我以下信息（可以一句话说完）："]
    for name in names:
        slot = flow.slots[name]
        hint = slot.hint
        if slot.type == "choice" and not hint:
            hint = "、".join(opt.value for opt in slot.options)
        extra = "（可不填）" if not slot.required else ""
        lines.append(f"· {slot.label}{extra}" + (f"：{hint}" if hint else ""))
    return "\n".join(lines)


def confirm_text(flow: Flow, state: FlowState, now: datetime) -> str:
    assert flow.confirm is not None
    return render(flow.confirm.prompt, values(flow, state, now))


def must_confirm(flow: Flow, state: FlowState) -> bool:
    """Whether the action waits for 「确认」 (the flow's `confirm.when`, see flows.schema)."""
    if flow.confirm is None or flow.confirm.when == "never":
        return False
    if flow.confirm.when == "always":
        return True
    return bool(state.unsure) or state.check


def doubts_text(flow: Flow, state: FlowState, now: datetime) -> str:
    """「请特别留意：预约日期 12月15日（周二）（…）。」 for the values that are guesses, or ""."""
    shown = values(flow, state, now)
    facts = [
        f"{slot.label} {shown[n]}（{DOUBT_REASONS.get(state.unsure[n], '请核对')}）"
        for n, slot in flow.slots.items()
        if n in state.unsure and n in state.slots
    ]
    return DOUBTS.format(facts="；".join(facts)) if facts else ""


def read_back(flow: Flow, state: FlowState, now: datetime) -> str:
    shown = values(flow, state, now)
    facts = "；".join(f"{slot.label} {shown[n]}" for n, slot in flow.slots.items() if n in state.slots)
    return READ_BACK.format(facts=facts) if facts else ""


def retry_text(flow: Flow, state: FlowState, now: datetime) -> str:
    shown = values(flow, state, now)
    lines = [RETRY_HEAD, *(f"{slot.label}：{shown[n]}" for n, slot in flow.slots.items() if n in state.slots)]
    lines.append(RETRY_HOW.format(verb=RETRY_VERBS[flow.complete.action.type]))
    return "\n".join(lines)


def current_prompt(flow: Flow, state: FlowState, now: datetime) -> str:
    """What the flow is waiting for, as it would ask it now (repeated after a digression)."""
    if state.step == CONFIRM_STEP:
        return confirm_text(flow, state, now)
    if state.step == RETRY_STEP:
        return retry_text(flow, state, now)
    if state.step == SATISFACTION_STEP:
        return flow.satisfaction.prompt if flow.satisfaction else ""
    names = state.awaiting or to_ask(flow, state, flow.step(state.step))
    return prompt_for(flow, names, now, state) if names else ""


def next_step(step: Step, slots: Mapping[str, str]) -> str:
    if isinstance(step.next, str):
        return step.next
    for branch in step.next:
        if holds(branch.when, dict(slots)):
            return branch.goto
    return DONE


def ack(flow: Flow, state: FlowState, names: list[str], now: datetime) -> str:
    shown = values(flow, state, now)
    facts = "；".join(f"{slot.label} {shown[n]}" for n, slot in flow.slots.items() if n in names)
    return RECORDED.format(facts=facts) if facts else ""


def path_filled(flow: Flow, state: FlowState) -> bool:
    step_id = flow.first_step
    for _ in range(len(flow.steps) + 1):
        if step_id == DONE:
            return True
        step = flow.step(step_id)
        if missing(flow, state, step):
            return False
        step_id = next_step(step, state.slots)
    return False
