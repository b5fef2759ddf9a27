"""A user's conversation state, stored by `app.stores` under the user's OpenID with a TTL.

State is loaded only after the per-user lock is held (aiogram issue 1317), so handlers can
treat it as theirs for the turn.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from flows.state import FlowState


class ClarifyOption(BaseModel):
    """One numbered choice we offered; replying its digit picks it."""

    kind: str  # "faq" | "flow" | "value"
    target: str  # faq id, flow id, or a slot value


class FollowUp(BaseModel):
    """A short exchange about a citizen's own booking or list (handlers.followup)."""

    # show | cancel | change | reason
    action: str
    # pick (a number from `numbers`) | time (the new day and half-day) | confirm | reason
    stage: str
    numbers: list[str] = Field(default_factory=list)
    number: str = ""
    # The new time being confirmed (ISO day, 上午/下午).
    day: str = ""
    period: str = ""
    # The message that started it (「改到下周三上午」), read for the time once a booking is picked.
    said: str = ""
    # reason: the low 好差评 level given, and the title of the matter it was about.
    level: str = ""
    title: str = ""
    expires_at: float = 0.0


class Session(BaseModel):
    openid: str
    flow: FlowState | None = None
    # A numbered menu we just offered (「您是不是想问：1… 2…」); cleared by the next turn.
    choices: list[ClarifyOption] = Field(default_factory=list)
    # Remaining pages of a long answer, sent one per 「更多」.
    more: list[str] = Field(default_factory=list)
    consecutive_fallbacks: int = 0
    # While a human agent owns the conversation the bot stays quiet (epoch seconds).
    handoff_until: float = 0.0
    # Consultation bookkeeping for the turn log (issue 5).
    consultation_id: str = ""
    turn_index: int = 0
    # The consultation reached its outcome; the next turn (unless it rates it) starts a new one.
    consultation_resolved: bool = False
    last_faq_id: str = ""
    # When `last_faq_id` was answered (epoch seconds): a short follow-up soon after is read in its context.
    last_faq_at: float = 0.0
    last_seen: float = 0.0
    # Awaiting a satisfaction answer for this consultation.
    awaiting_satisfaction: str = ""
    # Cancelling or changing a booking, or a list of the citizen's items just shown (issue 18).
    followup: FollowUp | None = None
    # The topic the last FAQ answer offered (「回复 订阅 …」): a bare 「订阅」 subscribes to it (issue 19).
    offered_topic: str = ""

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_defaults=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Session:
        return cls.model_validate_json(data)
