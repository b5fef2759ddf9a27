"""The desk's reads and writes on tickets: the queue, one ticket with its history, and the
actions staff take (assign, change status, reply).

Every action is one transaction that writes the ticket and a `ticket_events` row. An event the
citizen should hear about is written `pending`; `app.notify` delivers it afterwards and stores
the result on the row. A form submitted twice carries the same `request_key`, which is unique,
so the second submission changes nothing and sends nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.models import Ticket, TicketEvent, TurnRow
from app.desk import workflow
from app.turnlog.privacy import mask_personal_data

PAGE_SIZE = 50
COUNT_CAP = 1000
CONSULTATION_REACH = timedelta(hours=12)
AGES = {"1d": timedelta(days=1), "3d": timedelta(days=3), "7d": timedelta(days=7), "30d": timedelta(days=30)}


@dataclass(frozen=True, slots=True)
class QueueFilter:
    status: str = "open"  # "open", "closed", "all" or one status
    kind: str = ""
    category: str = ""
    account: str = ""
    assignee: str = ""  # a username, "none" (unassigned)
    age: str = ""  # older than: a key of AGES
    q: str = ""  # number or phone
    page: int = 1

    def params(self) -> dict[str, str]:
        """The non-default filters, for links that keep them (pagination, export)."""
        values = {
            "status": self.status if self.status != "open" else "",
            "kind": self.kind,
            "category": self.category,
            "account": self.account,
            "assignee": self.assignee,
            "age": self.age,
            "q": self.q,
        }
        return {key: value for key, value in values.items() if value}


@dataclass(frozen=True, slots=True)
class QueueRow:
    id: int
    number: str
    created_at: datetime
    kind: str
    category: str
    account: str
    status: str
    assignee: str
    phone_masked: str
    due_at: datetime | None
    overdue: bool


@dataclass(frozen=True, slots=True)
class QueuePage:
    rows: list[QueueRow]
    total: int  # at most COUNT_CAP
    exact: bool  # False: more than COUNT_CAP match
    page: int
    pages: int  # 0 when not counted
    more: bool  # a next page exists


def _filtered(query: Any, f: QueueFilter, accounts: Sequence[str], now: datetime) -> Any:
    # `query` is any Select over tickets; SQLAlchemy's variadic Select types do not unify here.
    if f.status == "open":
        query = query.where(Ticket.status.in_(workflow.OPEN_STATUSES))
    elif f.status == "closed":
        query = query.where(Ticket.status.in_(workflow.CLOSED_STATUSES))
    elif f.status in workflow.STATUSES:
        query = query.where(Ticket.status == f.status)
    if f.kind:
        query = query.where(Ticket.kind == f.kind)
    if f.category:
        query = query.where(Ticket.category == f.category)
    if accounts:
        query = query.where(Ticket.account.in_(list(accounts)))
    if f.account:
        query = query.where(Ticket.account == f.account)
    if f.assignee == "none":
        query = query.where(Ticket.assignee == "")
    elif f.assignee:
        query = query.where(Ticket.assignee == f.assignee)
    if f.age in AGES:
        query = query.where(Ticket.created_at <= now - AGES[f.age])
    q = f.q.strip()
    if q:
        digits = "".join(ch for ch in q if ch.isdigit())
        conditions = [Ticket.number == q]
        if len(digits) >= 7 and "-" not in q:
            conditions.append(Ticket.phone == digits)
        query = query.where(or_(*conditions))
    return query


def queue(engine: Engine, f: QueueFilter, *, accounts: Sequence[str] = (), now: datetime | None = None) -> QueuePage:
    """One page of the queue. Open tickets by their next deadline, so overdue ones come first
    (straight from the (status, due_at) index); closed ones newest first."""
    now = now or datetime.now(UTC)
    columns = select(
        Ticket.id, Ticket.number, Ticket.created_at, Ticket.kind, Ticket.category, Ticket.account,
        Ticket.status, Ticket.assignee, Ticket.phone, Ticket.due_at,
    )
    query = _filtered(columns, f, accounts, now)
    if f.status == "open" or f.status in workflow.OPEN_STATUSES:
        query = query.order_by(Ticket.due_at.asc().nulls_last(), Ticket.id.asc())
    else:
        query = query.order_by(Ticket.created_at.desc(), Ticket.id.desc())
    page = max(1, f.page)
    # Counting every match of a broad filter reads every matching row (680 ms for "older than
    # 7 days" among 100,000 on SQLite, bench/desk.py); past COUNT_CAP the page says 「1000+」
    # and pages on, as Django admin does without its full count.
    matches = _filtered(select(Ticket.id), f, accounts, now).limit(COUNT_CAP + 1).subquery()
    count_query = select(func.count()).select_from(matches)
    with engine.connect() as conn:
        total = int(conn.execute(count_query).scalar_one())
        rows = conn.execute(query.limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
    return QueuePage(
        rows=[
            QueueRow(
                id=r.id, number=r.number, created_at=r.created_at, kind=r.kind, category=r.category,
                account=r.account, status=r.status, assignee=r.assignee,
                phone_masked=workflow.mask_phone(r.phone), due_at=r.due_at,
                overdue=r.due_at is not None and r.due_at < now,
            )
            for r in rows
        ],
        total=min(total, COUNT_CAP),
        exact=total <= COUNT_CAP,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)) if total <= COUNT_CAP else 0,
        more=len(rows) == PAGE_SIZE and (total > COUNT_CAP or page * PAGE_SIZE < total),
    )


def export_rows(
    engine: Engine, f: QueueFilter, *, accounts: Sequence[str] = (), since: datetime | None = None,
    until: datetime | None = None,
) -> list[Ticket]:
    """Every ticket the filter selects (no paging), oldest first, for CSV / xlsx export."""
    query = _filtered(select(Ticket), f, accounts, datetime.now(UTC))
    if since is not None:
        query = query.where(Ticket.created_at >= since)
    if until is not None:
        query = query.where(Ticket.created_at < until)
    with Session(engine, expire_on_commit=False) as conn:
        return list(conn.execute(query.order_by(Ticket.created_at, Ticket.id)).scalars().all())


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    at: datetime
    actor: str
    action: str
    from_status: str
    to_status: str
    note: str
    delivery: str
    channel: str
    delivery_detail: str


@dataclass(frozen=True, slots=True)
class ConversationTurn:
    at: datetime
    text: str
    route: str
    step: str


@dataclass(slots=True)
class TicketView:
    ticket: Ticket
    events: list[Event] = field(default_factory=list)
    turns: list[ConversationTurn] = field(default_factory=list)


def find(engine: Engine, number: str) -> Ticket | None:
    with Session(engine, expire_on_commit=False) as conn:
        return conn.execute(select(Ticket).where(Ticket.number == number)).scalar_one_or_none()


def view(engine: Engine, number: str) -> TicketView | None:
    """The ticket, its history, and the masked turns of the consultation that filed it."""
    with Session(engine, expire_on_commit=False) as conn:
        ticket = conn.execute(select(Ticket).where(Ticket.number == number)).scalar_one_or_none()
        if ticket is None:
            return None
        events = conn.execute(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
        ).scalars().all()
        turns: Sequence[TurnRow] = ()
        if ticket.consultation_id:
            turns = conn.execute(
                select(TurnRow)
                .where(
                    TurnRow.consultation_id == ticket.consultation_id,
                    TurnRow.is_retry.is_(False),
                    # Bounded by time so the received_at index finds them (consultation ids are
                    # not indexed; a consultation ends after 30 idle minutes).
                    TurnRow.received_at >= ticket.created_at - CONSULTATION_REACH,
                    TurnRow.received_at <= ticket.created_at + CONSULTATION_REACH,
                )
                .order_by(TurnRow.received_at, TurnRow.id)
                .limit(200)
            ).scalars().all()
    return TicketView(
        ticket=ticket,
        events=[
            Event(e.id, e.at, e.actor, e.action, e.from_status, e.to_status, e.note, e.delivery, e.channel,
                  e.delivery_detail)
            for e in events
        ],
        # The turn log stores text masked already; masking again guards rows from older versions.
        turns=[ConversationTurn(t.received_at, mask_personal_data(t.text), t.route, t.step) for t in turns],
    )


class ActionRefused(ValueError):
    """The action does not apply to the ticket as it is now; the message is for staff."""


def _event_values(ticket: Ticket, actor: str, action: str, request_key: str | None, now: datetime) -> dict[str, object]:
    return {
        "ticket_id": ticket.id, "at": now, "actor": actor, "action": action, "from_status": ticket.status,
        "to_status": ticket.status, "note": "", "request_key": request_key or None, "delivery": "none",
        "channel": "", "delivery_detail": "",
    }


Build = Callable[[Session, Ticket, datetime], dict[str, object]]


def _record(engine: Engine, number: str, build: Build) -> int | None:
    """Run `build(conn, ticket, now) -> event values` in one transaction; the new event id, or
    None when the request key was seen before (a repeated submission)."""
    now = datetime.now(UTC)
    try:
        with Session(engine, expire_on_commit=False) as conn, conn.begin():
            ticket = conn.execute(select(Ticket).where(Ticket.number == number).with_for_update()).scalar_one_or_none()
            if ticket is None:
                raise ActionRefused("没有这个工单")
            values = build(conn, ticket, now)
            return int(conn.execute(insert(TicketEvent).values(**values).returning(TicketEvent.id)).scalar_one())
    except IntegrityError as exc:
        if "request_key" in str(exc.orig) or "ticket_events" in str(exc.orig):
            return None
        raise


def assign(engine: Engine, number: str, actor: str, assignee: str, *, request_key: str | None = None) -> int | None:
    def build(conn: Session, ticket: Ticket, now: datetime) -> dict[str, object]:
        conn.execute(update(Ticket).where(Ticket.id == ticket.id).values(assignee=assignee, updated_at=now))
        values = _event_values(ticket, actor, "assign", request_key, now)
        values["note"] = f"分派给 {assignee}" if assignee else "取消分派"
        return values

    return _record(engine, number, build)


def change_status(
    engine: Engine, number: str, actor: str, target: str, note: str, *, notify: bool, request_key: str | None = None
) -> int | None:
    """Move the ticket; with `notify` the citizen is told (the event is written `pending`)."""

    def build(conn: Session, ticket: Ticket, now: datetime) -> dict[str, object]:
        if not workflow.can_move(ticket.status, target):
            raise ActionRefused(f"不能从「{ticket.status}」改为「{target}」")
        changes: dict[str, object] = {"status": target, "updated_at": now}
        if notify and ticket.first_response_at is None:
            changes["first_response_at"] = now
        if target in workflow.CLOSED_STATUSES:
            changes["resolved_at"] = now
            changes["due_at"] = None
        else:
            changes["resolved_at"] = None
            responded = notify or ticket.first_response_at is not None
            changes["due_at"] = ticket.resolve_due_at if responded else ticket.response_due_at
        if not ticket.assignee:
            changes["assignee"] = actor
        conn.execute(update(Ticket).where(Ticket.id == ticket.id).values(**changes))
        values = _event_values(ticket, actor, "status", request_key, now)
        values.update(to_status=target, note=note, delivery="pending" if notify else "none")
        return values

    return _record(engine, number, build)


def reply(engine: Engine, number: str, actor: str, text: str, *, request_key: str | None = None) -> int | None:
    """A message to the citizen; counts as the first response. Delivered by `app.notify`."""
    if not text.strip():
        raise ActionRefused("回复内容不能为空")

    def build(conn: Session, ticket: Ticket, now: datetime) -> dict[str, object]:
        changes: dict[str, object] = {"updated_at": now}
        if ticket.first_response_at is None:
            changes["first_response_at"] = now
            if ticket.status in workflow.OPEN_STATUSES:
                changes["due_at"] = ticket.resolve_due_at
        if not ticket.assignee:
            changes["assignee"] = actor
        conn.execute(update(Ticket).where(Ticket.id == ticket.id).values(**changes))
        values = _event_values(ticket, actor, "reply", request_key, now)
        values.update(note=text.strip()[:2000], delivery="pending")
        return values

    return _record(engine, number, build)


def _citizens_own(conn: Session, number: str, openid: str, account: str) -> Ticket | None:
    """The ticket `number` if it is this citizen's (same OpenID and account), locked for the change."""
    return conn.execute(
        select(Ticket)
        .where(Ticket.number == number, Ticket.openid == openid, Ticket.account == account)
        .with_for_update()
    ).scalar_one_or_none()


def withdraw_by_citizen(engine: Engine, number: str, openid: str, *, account: str) -> bool:
    """The citizen withdraws their own open ticket in the chat (「撤回投诉」): 已撤销, in its history
    as theirs. False when they have no open ticket with that number (closed, or someone else's)."""
    now = datetime.now(UTC)
    with Session(engine, expire_on_commit=False) as conn, conn.begin():
        ticket = _citizens_own(conn, number, openid, account)
        if ticket is None or ticket.status not in (*workflow.OPEN_STATUSES, "open"):
            return False
        values = _event_values(ticket, workflow.CITIZEN_ACTOR, "status", None, now)
        values.update(to_status=workflow.CANCELLED, note="群众在对话中撤回")
        conn.execute(
            update(Ticket)
            .where(Ticket.id == ticket.id)
            .values(status=workflow.CANCELLED, updated_at=now, resolved_at=now, due_at=None)
        )
        conn.execute(insert(TicketEvent).values(**values))
        return True


def add_citizen_note(
    engine: Engine, number: str, openid: str, note: str, *, account: str, request_key: str | None = None
) -> bool:
    """Attach `note` to the citizen's own ticket (same OpenID and account); False when there is
    none. A repeated delivery (same `request_key`) attaches it once."""
    now = datetime.now(UTC)
    try:
        with Session(engine, expire_on_commit=False) as conn, conn.begin():
            ticket = _citizens_own(conn, number, openid, account)
            if ticket is None:
                return False
            changes: dict[str, object] = {"updated_at": now}
            mobile = workflow.mobile_in(note)
            if mobile and not ticket.phone:
                # A ticket filed without a contact gets the one sent after it: staff can call back,
                # and the queue finds it by that number.
                changes["phone"] = mobile
                changes["fields"] = {**ticket.fields, workflow.PHONE_LABELS[0]: mobile}
            conn.execute(update(Ticket).where(Ticket.id == ticket.id).values(**changes))
            values = _event_values(ticket, workflow.CITIZEN_ACTOR, workflow.CITIZEN_NOTE, request_key, now)
            values["note"] = note.strip()[:2000]
            conn.execute(insert(TicketEvent).values(**values))
            return True
    except IntegrityError as exc:
        if "request_key" in str(exc.orig) or "ticket_events" in str(exc.orig):
            return True
        raise


def categories(engine: Engine) -> list[str]:
    with Session(engine, expire_on_commit=False) as conn:
        return [c for c in conn.execute(select(Ticket.category).distinct().order_by(Ticket.category)).scalars() if c]


@dataclass(frozen=True, slots=True)
class Handoff:
    at: datetime
    account: str
    flow_id: str
    step: str
    turns: list[ConversationTurn]


def handoffs(engine: Engine, *, since: datetime, accounts: Sequence[str] = (), limit: int = 50) -> list[Handoff]:
    """Recent transfers to an agent, each with the turns of its consultation (masked): what the
    citizen already said and entered, so the agent does not ask again."""
    query = (
        select(TurnRow.received_at, TurnRow.account, TurnRow.consultation_id, TurnRow.flow_id, TurnRow.step)
        .where(TurnRow.received_at >= since, TurnRow.route == "handoff", TurnRow.is_retry.is_(False))
        .order_by(TurnRow.received_at.desc())
        .limit(limit)
    )
    if accounts:
        query = query.where(TurnRow.account.in_(list(accounts)))
    with engine.connect() as conn:
        found = conn.execute(query).all()
        ids = [h.consultation_id for h in found if h.consultation_id]
        turns: dict[str, list[ConversationTurn]] = {}
        flows: dict[str, tuple[str, str]] = {}
        by_consultation = {h.consultation_id: h.received_at for h in found}
        if ids:
            rows = conn.execute(
                select(
                    TurnRow.consultation_id, TurnRow.received_at, TurnRow.text, TurnRow.route, TurnRow.step,
                    TurnRow.flow_id,
                )
                .where(
                    TurnRow.consultation_id.in_(ids),
                    TurnRow.is_retry.is_(False),
                    TurnRow.received_at >= since - CONSULTATION_REACH,
                )
                .order_by(TurnRow.received_at, TurnRow.id)
            ).all()
            for r in rows:
                turns.setdefault(r.consultation_id, []).append(
                    ConversationTurn(r.received_at, mask_personal_data(r.text), r.route, r.step)
                )
                if r.flow_id and r.received_at <= by_consultation.get(r.consultation_id, r.received_at):
                    # The flow the citizen was in when they asked: the last one before the transfer.
                    flows[r.consultation_id] = (r.flow_id, r.step)
    result = []
    for h in found:
        flow_id, step = flows.get(h.consultation_id, (h.flow_id, h.step))
        result.append(Handoff(h.received_at, h.account, flow_id, step, turns.get(h.consultation_id, [])))
    return result
