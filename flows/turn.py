"""One message's work on one flow state: the reply parts, moving on through the steps, the action.

`FlowTurn.settle` passes every step whose slots are filled and asks what is missing, shows the
confirmation or runs the completion; `complete` runs the action (a ticket, a backend look-up)
and, when it fails, keeps every fact and waits at `retry`. The engine (`flows.engine`) decides
what a message means for the flow; this module carries it out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from flows import booking, prompts
from flows.schema import CONFIRM_STEP, DONE, RETRY_STEP, SATISFACTION_STEP, Flow, holds
from flows.state import FlowState
from flows.templates import render
from handlers.ports import Services

log = logging.getLogger("wxbot.flows")

TICKET_FAILED = "抱歉，提交时系统出现问题，您的信息还在。请稍后回复「确认」重新提交，或回复「人工」联系客服。"


BACKEND_TIMEOUT = "抱歉，查询系统响应较慢，暂时没有查到结果。请稍后回复「确认」重新查询，或回复「人工」联系客服。"


BACKEND_DOWN = "抱歉，查询系统暂时无法访问。请稍后回复「确认」重新查询，或回复「人工」联系客服。"


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
        if flow.confirm is not None and state.step == DONE:
            state.step = CONFIRM_STEP
        if state.step == CONFIRM_STEP:
            self.say(prompts.confirm_text(flow, state, self.now))
            return self.outcome()
        if state.step == RETRY_STEP:
            self.say(prompts.retry_text(flow, state, self.now))
            return self.outcome()
        return await self.complete()

    async def complete(self) -> Outcome:
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
