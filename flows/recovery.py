"""Going back and fitting old states: 返回 takes back the last answer; a state saved by an older
flow file is made to fit the current one (nothing a flow file no longer has can make a turn raise).
"""

from __future__ import annotations

from flows import prompts
from flows.prompts import current_prompt
from flows.schema import CONFIRM_STEP, DONE, RETRY_STEP, SATISFACTION_STEP, Flow
from flows.state import FlowState, Snapshot
from flows.turn import FlowTurn, Outcome

BACK_AT_START = "已经是第一步了。"


WENT_BACK = "好的，回到上一步。"


# How many answers 返回 can take back.
UNDO_DEPTH = 10


def remember(outcome: Outcome, before: Snapshot) -> None:
    """Keep where the flow stood before this message, if the message moved it."""
    state = outcome.state
    if state is None or state.step == SATISFACTION_STEP:
        return
    now = state.snapshot()
    if (now.step, now.slots) != (before.step, before.slots):
        state.undo = [*state.undo, before][-UNDO_DEPTH:]


async def back(turn: FlowTurn) -> Outcome:
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


def fits(flow: Flow, state: FlowState) -> bool:
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
        return prompts.path_filled(flow, state)
    state.awaiting = [n for n in state.awaiting if n in flow.slots]
    return state.step in steps
