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

    def snapshot(self) -> Snapshot:
        return Snapshot(
            step=self.step, slots=dict(self.slots), history=list(self.history), awaiting=list(self.awaiting)
        )
