"""One message's work on one flow state: the reply parts, moving on through the steps, the action.

`FlowTurn.settle` passes every step whose slots are filled and asks what is missing, shows the
confirmation or runs the completion; `complete` runs the action (a ticket, a backend look-up)
and, when it fails, keeps every fact and waits at `retry`. The engine (`flows.engine`) decides
what a message means for the flow; this module carries it out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime

from flows import booking, prompts
from flows.schema import CONFIRM_STEP, DONE, RETRY_STEP, SATISFACTION_STEP, Flow, holds
from flows.state import FlowState
from flows.templates import render
from handlers.ports import Services

log = logging.getLogger("wxbot.flows")

TICKET_FAILED = "抱歉，提交时系统出现问题，您的信息还在。请稍后回复「确认」重新提交，或回复「人工」联系客服。"


BACKEND_TIMEOUT = "抱歉，查询系统响应较慢，暂时没有查到结果。请稍后回复「确认」重新查询，或回复「人工」联系客服。"


BACKEND_DOWN = "抱歉，查询系统暂时无法访问。请稍后回复「确认」重新查询，或回复「人工」联系客服。"


# A correction after a booking made without 「确认」 (FlowState.amendable).
MOVED = "已为您改约，预约号不变：{number}（原时段的名额已释放）。"
REBOOKED = "原预约 {old} 已取消，已按更正后的信息重新预约。"
AMEND_GONE = "原预约 {old} 已经取消或不存在了，已按更正后的信息重新预约。"


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


def new_state(flow: Flow, now: datetime) -> FlowState:
    stamp = now.timestamp()
    return FlowState(
        flow_id=flow.id, version=flow.version, step=flow.first_step, started_at=stamp, updated_at=stamp
    )


class FlowTurn:
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

    # -- moving on ---------------------------------------------------------------------------
    async def settle(self) -> Outcome:
        """Pass every step whose slots are filled; ask what is missing, confirm or complete."""
        flow, state = self.flow, self.state
        for _ in range(len(flow.steps) + 1):
            if state.step in (CONFIRM_STEP, RETRY_STEP, DONE):
                break
            step = flow.step(state.step)
            prompts.take_otherwise(flow, state, step)
            names = prompts.to_ask(flow, state, step)
            if names:
                state.awaiting = names
                state.asked.extend(n for n in names if n not in state.asked)
                self.say(prompts.prompt_for(flow, names, self.now, state))
                return self.outcome()
            target = prompts.next_step(step, state.slots)
            state.history.append(step.id)
            state.step = target
            if state.step != DONE:
                self.say(render(flow.step(state.step).say, prompts.values(flow, state, self.now)))
        state.awaiting = []
        if state.step == DONE and prompts.must_confirm(flow, state):
            state.step = CONFIRM_STEP
        if state.step == CONFIRM_STEP:
            self.say(prompts.doubts_text(flow, state, self.now))
            self.say(prompts.confirm_text(flow, state, self.now))
            return self.outcome()
        if state.step == RETRY_STEP:
            self.say(prompts.retry_text(flow, state, self.now))
            return self.outcome()
        return await self.complete()

    async def complete(self, *, confirmed: bool = False) -> Outcome:
        """Run the action. Not `confirmed` in a flow that has a confirmation: the reply reads
        every value back and says how to change or undo it, and a correction said next amends
        what was done (`FlowState.amendable`)."""
        flow, state = self.flow, self.state
        self.acted = True
        shown = prompts.values(flow, state, self.now)
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
                placed = await booking.place(flow, state.slots, fields, self.services, self.openid, self.now.date())
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
        state.amendable = False
        if flow.confirm is not None and not confirmed:
            self.say(prompts.read_back(flow, state, self.now))
            self.say(render(flow.confirm.undo, shown))
            # Only a booking can be changed in place; other actions are done or looked up afresh.
            state.amendable = action.type == "booking"
        state.unsure = {}
        state.check = False
        if flow.satisfaction is None:
            return self.outcome(ended=True, resolved=True)
        state.step = SATISFACTION_STEP
        state.awaiting = ["satisfaction"]
        self.say(flow.satisfaction.prompt)
        return self.outcome(resolved=True)

    async def amend(self, changed: list[str], before: dict[str, str]) -> Outcome:
        """A correction after a booking made without 「确认」: move it, or make it again.

        A new day or half-day moves the booking and keeps its number (`Services.change_booking`,
        atomic: a full or duplicate time leaves the old booking as it was). Any other fact (the
        business, the name, the mobile) is part of the booking's record: the old booking is
        cancelled and the corrected one made, with a new number.
        """
        flow, state = self.flow, self.state
        spec = flow.booking
        assert spec is not None, "only a booking is amendable"
        old = state.ticket
        # Said as a correction: plainly stated, nothing left to guess.
        state.unsure = {}
        today = self.now.date()
        if set(changed) <= {spec.date, spec.period}:
            business = state.slots[spec.business]
            day = date.fromisoformat(state.slots[spec.date])
            period = state.slots[spec.period]
            result = await self.services.change_booking(
                self.openid, old, day, period, spec.capacity_for(business)
            )
            if result.status == "booked":
                self.say(MOVED.format(number=old))
                shown = prompts.values(flow, state, self.now)
                shown["ticket"] = old
                self.say(prompts.read_back(flow, state, self.now))
                self.say(render(flow.confirm.undo if flow.confirm else "", shown))
                return self.rate_again()
            if result.status != "not_found":
                # Full or a duplicate: the booking stays as it was; say why.
                state.slots = dict(before)
                if result.status == "duplicate" and result.booking is not None:
                    self.say(booking.duplicate_text(result.booking, today))
                else:
                    self.say(booking.FULL.format(when=booking.when(day, period, today), business=business))
                    self.say("您原来的预约保持不变，可以换一个时间再说。")
                return self.rate_again()
            self.say(AMEND_GONE.format(old=old))
        else:
            cancelled = await self.services.cancel_booking(self.openid, old)
            self.say((REBOOKED if cancelled.status != "not_found" else AMEND_GONE).format(old=old))
        state.resolved = False
        state.ticket = ""
        return await self.complete()

    def rate_again(self) -> Outcome:
        """Back at the rating question, which the correction came before."""
        self.state.step = SATISFACTION_STEP
        self.state.awaiting = ["satisfaction"]
        if self.flow.satisfaction is not None:
            self.say(self.flow.satisfaction.prompt)
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
