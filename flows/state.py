"""The part of a user's session that belongs to a flow in progress.

Serialised inside `handlers.session.Session`; the engine owns its meaning.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


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
