"""Bookings and the lookups of everything we number, on PostgreSQL and SQLite (issue 18).

A booking is a ticket (the number the citizen is given) plus a `bookings` row holding a seat.
Capacity and "one booking per citizen, business and day" are unique indexes over the active
rows (migration 0007), so they hold across workers and hosts without locks: a writer reads the
free seats, takes the lowest, and if another worker took it first the insert fails and it looks
again. The ticket number is drawn in the same transaction, so a lost race burns no number.

Blocking SQLAlchemy: call through `asyncio.to_thread`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, date, datetime

from sqlalchemy import ColumnElement, Engine, and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.models import Booking, Ticket, TicketEvent
from app.db.tickets import LOCAL_TZ, filed_by, insert_ticket
from app.desk.sla import SlaPolicy
from handlers.ports import BookingRequest, BookingResult, BookingView, ItemKind, ItemView

BOOKED = "booked"
CANCELLED = "cancelled"
# A ticket cancelled with its booking (the desk's status names, issue 17).
TICKET_WITHDRAWN = "已撤销"
# Ticket statuses that are finished: 我的工单 lists the others.
CLOSED_TICKET_STATUSES = ("已办结", "已退回", "已撤销", "closed", "done")


class BookingContention(RuntimeError):
    """Lost the race for a seat more often than there are seats: something else is wrong."""


def _view(row: Booking) -> BookingView:
    return BookingView(
        number=row.number, business=row.business, hall=row.hall, day=row.day, period=row.period,
        status=row.status, created_at=row.created_at, flow_id=row.flow_id,
    )


def _active(account: str) -> ColumnElement[bool]:
    return and_(Booking.account == account, Booking.status == BOOKED)


def _duplicate(
    conn: Session, account: str, openid: str, business: str, day: date, *, besides: str = ""
) -> Booking | None:
    query = select(Booking).where(
        _active(account), Booking.openid == openid, Booking.business == business, Booking.day == day,
        Booking.number != besides,
    )
    return conn.execute(query).scalars().first()


def _free_seat(
    conn: Session, account: str, business: str, hall: str, day: date, period: str, capacity: int,
    *, besides: str = "",
) -> int | None:
    query = select(Booking.seat).where(
        _active(account), Booking.business == business, Booking.hall == hall, Booking.day == day,
        Booking.period == period, Booking.number != besides,
    )
    taken = set(conn.execute(query).scalars())
    return next((seat for seat in range(1, capacity + 1) if seat not in taken), None)


def book(
    engine: Engine, request: BookingRequest, *, account: str = "default", now: datetime | None = None,
    delivery: str | None = None, user_id: str = "", consultation_id: str = "", sla: SlaPolicy | None = None,
) -> BookingResult:
    """File the booking with its ticket, or say why not (full, duplicate).

    With `delivery` (AppID + MsgId / event key) a retry or replay of the delivery that booked
    gets that booking back as `booked`, never a second seat or a "you already booked" (issue 15):
    the ticket's unique `delivery` decides, with or without the session store."""
    created = (now or datetime.now(UTC)).astimezone(UTC)
    # Every lost race means another writer took a seat or the citizen's day: bounded by both.
    for _ in range(request.capacity + 3):
        try:
            with Session(engine, expire_on_commit=False) as conn, conn.begin():
                if delivery:
                    filed = filed_by(conn.connection(), delivery)
                    mine = None if filed is None else conn.execute(
                        select(Booking).where(Booking.number == filed)).scalars().first()
                    if mine is not None:
                        return BookingResult("booked", _view(mine))
                existing = _duplicate(conn, account, request.openid, request.business, request.day)
                if existing is not None:
                    # Filed by this very delivery a moment ago (a concurrent retry won): ours.
                    ours = delivery is not None and filed_by(conn.connection(), delivery) == existing.number
                    return BookingResult("booked" if ours else "duplicate", _view(existing))
                seat = _free_seat(
                    conn, account, request.business, request.hall, request.day, request.period, request.capacity
                )
                if seat is None:
                    return BookingResult("full")
                number = insert_ticket(
                    conn.connection(), request.flow_id, request.openid, request.fields, account=account, now=created,
                    delivery=delivery, user_id=user_id, consultation_id=consultation_id, sla=sla,
                )
                row = {
                    "number": number, "account": account, "openid": request.openid, "flow_id": request.flow_id,
                    "business": request.business, "hall": request.hall, "day": request.day,
                    "period": request.period, "seat": seat, "status": BOOKED,
                    "created_at": created, "updated_at": created,
                }
                conn.execute(insert(Booking).values(**row))
                return BookingResult("booked", BookingView(
                    number=number, business=request.business, hall=request.hall, day=request.day,
                    period=request.period, status=BOOKED, created_at=created, flow_id=request.flow_id,
                ))
        except IntegrityError:
            continue
    raise BookingContention(f"no seat settled after {request.capacity + 3} tries")


def booked_counts(
    engine: Engine, business: str, hall: str, days: Sequence[date], *, account: str = "default"
) -> dict[tuple[date, str], int]:
    query = (
        select(Booking.day, Booking.period, func.count())
        .where(_active(account), Booking.business == business, Booking.hall == hall, Booking.day.in_(list(days)))
        .group_by(Booking.day, Booking.period)
    )
    with Session(engine, expire_on_commit=False) as conn:
        return {(day, period): count for day, period, count in conn.execute(query)}


def _own_active(conn: Session, account: str, openid: str, number: str) -> Booking | None:
    query = select(Booking).where(_active(account), Booking.openid == openid, Booking.number == number)
    return conn.execute(query).scalars().first()


def change(
    engine: Engine, openid: str, number: str, day: date, period: str, capacity: int,
    *, account: str = "default", now: datetime | None = None,
) -> BookingResult:
    """Move an active booking to another day/period, keeping its number; the old seat is freed."""
    changed = (now or datetime.now(UTC)).astimezone(UTC)
    for _ in range(capacity + 3):
        try:
            with Session(engine, expire_on_commit=False) as conn, conn.begin():
                current = _own_active(conn, account, openid, number)
                if current is None:
                    return BookingResult("not_found")
                if (current.day, current.period) == (day, period):
                    return BookingResult("booked", _view(current))
                existing = _duplicate(conn, account, openid, current.business, day, besides=number)
                if existing is not None:
                    return BookingResult("duplicate", _view(existing))
                seat = _free_seat(
                    conn, account, current.business, current.hall, day, period, capacity, besides=number
                )
                if seat is None:
                    return BookingResult("full", _view(current))
                conn.execute(
                    update(Booking)
                    .where(Booking.id == current.id)
                    .values(day=day, period=period, seat=seat, updated_at=changed)
                )
                moved = BookingView(
                    number=number, business=current.business, hall=current.hall, day=day, period=period,
                    status=BOOKED, created_at=current.created_at, flow_id=current.flow_id,
                )
                return BookingResult("booked", moved)
        except IntegrityError:
            continue
    raise BookingContention(f"no seat settled after {capacity + 3} tries")


def cancel(
    engine: Engine, openid: str, number: str, *, account: str = "default", now: datetime | None = None
) -> BookingResult:
    changed = (now or datetime.now(UTC)).astimezone(UTC)
    with Session(engine, expire_on_commit=False) as conn, conn.begin():
        current = _own_active(conn, account, openid, number)
        if current is None:
            return BookingResult("not_found")
        conn.execute(update(Booking).where(Booking.id == current.id).values(status=CANCELLED, updated_at=changed))
        conn.execute(
            update(Ticket).where(Ticket.number == number, Ticket.account == account).values(status=TICKET_WITHDRAWN)
        )
        view = _view(current)
    return BookingResult("booked", BookingView(
        number=view.number, business=view.business, hall=view.hall, day=view.day, period=view.period,
        status=CANCELLED, created_at=view.created_at, flow_id=view.flow_id,
    ))


def _item(ticket: Ticket, booking: Booking | None) -> ItemView:
    return ItemView(
        number=ticket.number, flow_id=ticket.flow_id, status=ticket.status, created_at=ticket.created_at,
        fields=dict(ticket.fields or {}), booking=_view(booking) if booking is not None else None,
    )


def find_item(engine: Engine, openid: str, number: str, *, account: str = "default") -> ItemView | None:
    """The citizen's own ticket (and its booking) with `number`; another citizen's is not found."""
    query = (
        select(Ticket, Booking)
        .outerjoin(Booking, and_(Booking.number == Ticket.number, Booking.account == Ticket.account))
        .where(Ticket.number == number, Ticket.account == account, Ticket.openid == openid)
    )
    with Session(engine, expire_on_commit=False) as conn:
        row = conn.execute(query).first()
        if row is None:
            return None
        # The last reply staff sent from the desk (issue 17), so the citizen reads it here too.
        reply = conn.execute(
            select(TicketEvent.note, TicketEvent.at)
            .where(TicketEvent.ticket_id == row[0].id, TicketEvent.action == "reply")
            .order_by(TicketEvent.id.desc())
            .limit(1)
        ).first()
    item = _item(row[0], row[1])
    if reply is not None:
        item = dataclasses.replace(item, last_reply=reply.note, last_reply_at=reply.at)
    return item


def my_items(
    engine: Engine, openid: str, kind: ItemKind, limit: int, *, account: str = "default", today: date | None = None
) -> list[ItemView]:
    """Open bookings from today on, or open tickets that are not bookings; newest first."""
    today = today or datetime.now(LOCAL_TZ).date()
    if kind == "booking":
        query = (
            select(Ticket, Booking)
            .join(Booking, and_(Booking.number == Ticket.number, Booking.account == Ticket.account))
            .where(_active(account), Booking.openid == openid, Booking.day >= today)
            .order_by(Booking.created_at.desc(), Booking.id.desc())
            .limit(limit)
        )
    else:
        query = (
            select(Ticket, Booking)
            .outerjoin(Booking, and_(Booking.number == Ticket.number, Booking.account == Ticket.account))
            .where(
                Ticket.account == account, Ticket.openid == openid, Booking.id.is_(None),
                Ticket.status.not_in(CLOSED_TICKET_STATUSES),
            )
            .order_by(Ticket.created_at.desc(), Ticket.id.desc())
            .limit(limit)
        )
    with Session(engine, expire_on_commit=False) as conn:
        return [_item(ticket, booking) for ticket, booking in conn.execute(query)]

