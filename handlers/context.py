"""What a handler receives (`Turn`, `HandlerContext`) and returns (`TurnResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from handlers.messages import Inbound
from handlers.ports import Services
from handlers.replies import Reply
from handlers.session import Session

if TYPE_CHECKING:
    from flows.registry import FlowRegistry
    from knowledge.layered import LayeredMatcher
    from knowledge.matcher import Matcher
    from knowledge.topics import TopicCatalog

Route = Literal[
    "faq", "clarify", "fallback", "flow", "menu", "event", "handoff", "media", "more", "unknown", "quiet",
    "limited",
]


@dataclass(slots=True)
class Turn:
    message: Inbound
    session: Session
    now: datetime  # aware, Asia/Shanghai


@dataclass(slots=True)
class TurnMeta:
    """Facts about the turn that the turn log records (issue 5)."""

    faq_id: str = ""
    score: float | None = None
    flow_id: str = ""
    step: str = ""
    resolved: bool = False
    satisfaction: str = ""  # "满意" | "基本满意" | "不满意"
    handoff: bool = False


@dataclass(slots=True)
class TurnResult:
    reply: Reply
    route: Route
    # None: delete the session (unsubscribe).
    session: Session | None
    meta: TurnMeta = field(default_factory=TurnMeta)


@dataclass(slots=True)
class HandoffConfig:
    agent_account: str | None = None
    # Working hours as "HH:MM-HH:MM" on working days; empty means always.
    hours: str = ""
    fallbacks_before_handoff: int = 3
    quiet_minutes: int = 30


@dataclass(slots=True)
class HandlerContext:
    """Everything read-only a handler may consult, built once in the app's lifespan."""

    # An account's knowledge: one folder's matcher, or shared folders with its overrides (issue 16).
    matcher: Matcher | LayeredMatcher | None
    flows: FlowRegistry | None
    services: Services
    handoff: HandoffConfig = field(default_factory=HandoffConfig)
    # A flow left idle longer than this is over; the next message says so kindly.
    session_timeout_s: float = 1800.0
    # The Official Account this turn belongs to (app.accounts); `default` when there is one.
    account: str = "default"
    # Topics citizens may subscribe to (knowledge/topics.yaml, issue 19); None: subscriptions are off.
    topics: TopicCatalog | None = None
    # Configurable texts (welcome etc.) are in handlers.texts.
