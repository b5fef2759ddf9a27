"""Consultations: how a user's turns group into one request for help, and whether it was resolved.

The definitions live in docs/consultations.md; this module is their only implementation, used
by `wxbot report`, `wxbot kb unanswered` and the /ops dashboard alike. It works from the stored
rows alone, so history can be re-read with other windows and FAQ resolution (which is only
known once the re-ask window has passed) is decided where all the rows are visible.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flows import rating
from flows.rating import LEVELS

# Routes that are deliveries but not a user asking something.
NOT_INTERACTIONS = frozenset({"duplicate", "quiet"})
# Events that are a user asking something (a menu tap); other events are not.
INTERACTIVE_EVENTS = frozenset({"click"})
# 好差评 (flows.rating): the three top levels say the matter was dealt with, the two lowest that it was
# not. Rows from before the five levels hold 满意/基本满意/不满意, the same words.
POSITIVE_SATISFACTION = frozenset(LEVELS[:3])
NEGATIVE_SATISFACTION = rating.LOW


@dataclass(frozen=True, slots=True)
class TurnFacts:
    """The columns the analysis reads from a turn row."""

    received_at: datetime
    user_id: str
    route: str
    msg_type: str = "text"
    event: str = ""
    is_retry: bool = False
    outcome: str = "passive"
    latency_ms: float = 0.0
    faq_id: str = ""
    flow_id: str = ""
    step: str = ""
    resolved: bool = False
    satisfaction: str = ""
    text: str = ""


def is_interaction(row: TurnFacts) -> bool:
    if row.is_retry or row.route in NOT_INTERACTIONS:
        return False
    if row.msg_type == "event":
        return row.event.lower() in INTERACTIVE_EVENTS
    return True


def is_faq_answer(row: TurnFacts) -> bool:
    # A late reply keeps the FAQ id of the answer it delivered.
    return bool(row.faq_id) and row.route in ("faq", "late") and not row.flow_id


@dataclass(slots=True)
class Consultation:
    user_id: str
    started_at: datetime
    last_at: datetime
    interactions: int = 0
    flows: set[str] = field(default_factory=set)
    completed_flow: bool = False
    handoff: bool = False
    satisfaction: str = ""
    closed: bool = False
    fallbacks: int = 0
    last_route: str = ""
    last_faq: tuple[datetime, str] | None = None
    # Texts the bot could not answer, and the clarify question the user walked away from.
    unanswered: list[str] = field(default_factory=list)
    abandoned: str = ""
    resolved: bool = False


@dataclass(frozen=True, slots=True)
class Rules:
    idle: timedelta = timedelta(minutes=30)
    reask_window: timedelta = timedelta(hours=24)


def group_user(rows: Sequence[TurnFacts], rules: Rules) -> list[Consultation]:
    """One user's rows (sorted by time) → consultations, each with `resolved` decided."""
    consultations: list[Consultation] = []
    current: Consultation | None = None
    for row in rows:
        if not is_interaction(row):
            continue
        fresh = current is not None and row.received_at - current.last_at < rules.idle
        if current is not None and fresh and row.satisfaction:
            # The answer to the rating prompt that closes a consultation belongs to it and is
            # feedback, not another interaction.
            current.satisfaction = row.satisfaction
            current.closed = True
            continue
        starts_other_flow = bool(row.flow_id and current is not None and current.flows
                                 and row.flow_id not in current.flows)
        if current is None or not fresh or current.closed or starts_other_flow:
            current = Consultation(row.user_id, row.received_at, row.received_at)
            consultations.append(current)
        _add(current, row)
    for consultation in consultations:
        consultation.resolved = _resolved(consultation, rows, rules)
    return consultations


def _add(c: Consultation, row: TurnFacts) -> None:
    c.interactions += 1
    c.last_at = row.received_at
    c.last_route = row.route
    if row.flow_id:
        c.flows.add(row.flow_id)
    if row.resolved:
        c.completed_flow = True
        c.closed = True
    if row.satisfaction:
        c.satisfaction = row.satisfaction
        c.closed = True
    if row.route == "handoff":
        c.handoff = True
        c.closed = True
    if is_faq_answer(row):
        c.last_faq = (row.received_at, row.faq_id)
    if row.route == "fallback":
        c.fallbacks += 1
        if row.text.strip():
            c.unanswered.append(row.text)
    # Only the last row counts: a clarify menu the user answered was not abandoned.
    c.abandoned = row.text if row.route == "clarify" and row.text.strip() else ""


def _resolved(c: Consultation, rows: Sequence[TurnFacts], rules: Rules) -> bool:
    if c.satisfaction in NEGATIVE_SATISFACTION:
        return False
    if c.completed_flow or c.satisfaction in POSITIVE_SATISFACTION:
        return True
    if c.handoff or c.last_faq is None or c.last_route == "fallback":
        return False
    answered_at, faq_id = c.last_faq
    horizon = answered_at + rules.reask_window
    for row in rows:
        if row.received_at <= answered_at or row.is_retry:
            continue
        if row.received_at > horizon:
            break
        if row.faq_id == faq_id or row.route == "handoff":
            return False
    return True


def group_all(rows_by_user: Iterable[Sequence[TurnFacts]], rules: Rules) -> list[Consultation]:
    out: list[Consultation] = []
    for rows in rows_by_user:
        out.extend(group_user(rows, rules))
    return out
