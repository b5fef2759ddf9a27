"""The part of a user's session that belongs to a flow in progress.

Serialised inside `handlers.session.Session`; the engine owns its meaning.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class Snapshot(BaseModel):
    """Where the flow stood before a message changed it; 返回 goes back to it."""

    step: str
    slots: dict[str, str] = Field(default_factory=dict)
    history: list[str] = Field(default_factory=list)
    awaiting: list[str] = Field(default_factory=list)


class FlowState(BaseModel):
    flow_id: str
    version: str
    step: str
    slots: dict[str, str] = Field(default_factory=dict)
    # Failed attempts per slot, so re-asks are bounded.
    attempts: dict[str, int] = Field(default_factory=dict)
    # Steps visited, for 返回/上一步.
    history: list[str] = Field(default_factory=list)
    started_at: float = 0.0
    # Last message handled by the flow (epoch seconds): the flow expires this long after it.
    updated_at: float = 0.0
    # The slots the last prompt asked for (what a scripted citizen or service staff should answer).
    awaiting: list[str] = Field(default_factory=list)
    # Every slot ever asked for, so an optional slot is offered once and a filled one never again.
    asked: list[str] = Field(default_factory=list)
    # Set when the completion ran: the flow only waits for a satisfaction answer now.
    resolved: bool = False
    # The number the completion filed (ticket or booking): the matter a rating is about.
    ticket: str = ""
    # Before each message that changed the flow, newest last (bounded): 返回 takes back the last
    # answer, whether it filled one slot, several, or moved on a step.
    undo: list[Snapshot] = Field(default_factory=list)
    # Slot → why its value is a guess rather than what the citizen plainly said (flows.reading:
    # a homophone, part of an option's words, a date whose week or month is ambiguous, …). A flow
    # whose confirmation is `when_uncertain` asks 「确认」 only while this is not empty.
    unsure: dict[str, str] = Field(default_factory=dict)
    # The citizen asked to see the details before anything is done (「先核对一下」).
    check: bool = False
    # The action ran without 「确认」: a correction said now changes what was done (the booking
    # is moved or made again) instead of starting anything new.
    amendable: bool = False
    # A week named without its day (「约个下礼拜的号」: 1): a bare weekday said later (「周二吧」)
    # is that week's, not the coming one.
    week: int | None = None

    def snapshot(self) -> Snapshot:
        return Snapshot(
            step=self.step, slots=dict(self.slots), history=list(self.history), awaiting=list(self.awaiting)
        )
