"""Deliver the ticket events a citizen should hear about, each at most once.

An event is written `pending` in the same transaction as the action. Delivering it first
claims the row (`pending` → `sending` in one UPDATE; only one worker's UPDATE matches), then
sends through `app.notify` with the event id as the `once` key, then stores the result. A worker
that dies between claim and result leaves the row `sending`; `settle_stuck` later marks it
`unknown` (the desk says so) and nothing resends it: for a notice, telling the citizen twice is
worse than once unconfirmed. An event left `pending` by a worker that died before claiming it
was never sent, so `deliver_stale` sends it later (within a day; older news stays for staff).
Both run in `wxbot serve`'s notification task (app/reminders.py) and in `wxbot notify reminders`.

Booking reminders (app/reminders.py) are events of the same table, `action="reminder"`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, and_, or_, select, update
from sqlalchemy.orm import Session

from app.db.models import Ticket, TicketEvent
from app.desk import workflow
from app.desk.sla import SHANGHAI
from app.notify import Delivery, Notice, Notifier


def _claim(engine: Engine, event_id: int) -> tuple[TicketEvent, Ticket] | None:
    with Session(engine, expire_on_commit=False) as conn, conn.begin():
        claimed = conn.connection().execute(
            update(TicketEvent)
            .where(TicketEvent.id == event_id, TicketEvent.delivery == "pending")
            # While `sending`, `delivered_at` is when the row was claimed (settle_stuck reads it).
            .values(delivery="sending", delivered_at=datetime.now(UTC))
        ).rowcount
        if not claimed:
            return None
        event = conn.execute(select(TicketEvent).where(TicketEvent.id == event_id)).scalar_one()
        ticket = conn.execute(select(Ticket).where(Ticket.id == event.ticket_id)).scalar_one()
    return event, ticket


# A live send takes at most the notifier's budget per channel (10 s each) plus the window
# lookup; a row `sending` this long belongs to a worker that died mid-send.
STUCK_AFTER = timedelta(minutes=10)
# A desk action delivers its event at once, in the request; pending this long, nobody will.
STALE_PENDING = timedelta(minutes=2)
# Older than this, a notice left pending is no longer news (and may predate this sweep): it stays
# 「待发送」 on the desk for staff to judge rather than reaching the citizen days late.
PENDING_REACH = timedelta(hours=24)
UNKNOWN = "unknown"
INTERRUPTED = "interrupted"


def state_of(delivery: Delivery) -> str:
    if delivery.ok:
        return "sent"
    return "impossible" if "no_template" in delivery.detail else "failed"


def record(engine: Engine, event_id: int, delivery: Delivery) -> None:
    """Store what became of a claimed event's send."""
    with Session(engine, expire_on_commit=False) as conn, conn.begin():
        conn.execute(
            update(TicketEvent)
            .where(TicketEvent.id == event_id)
            .values(
                delivery=state_of(delivery),
                channel=delivery.channel,
                delivery_detail=delivery.detail[:200],
                delivered_at=datetime.now(UTC),
            )
        )


def notice_for(event: TicketEvent, ticket: Ticket) -> Notice:
    if event.action == "reply":
        text = f"关于您提交的事项（编号：{ticket.number}），工作人员回复：\n{event.note}"
        status = ticket.status
    else:
        status = event.to_status
        text = workflow.CITIZEN_NOTICES.get(status, "您提交的事项（编号：{number}）状态已更新为「" + status + "」。")
        text = text.format(number=ticket.number)
        if event.note:
            text += f"\n说明：{event.note}"
    return Notice(
        text=text,
        fields={"number": ticket.number, "status": status, "kind": ticket.kind, "note": event.note,
                "time": datetime.now(UTC).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")},
    )


async def deliver(engine: Engine, notifier_for: Callable[[str], Notifier], event_id: int) -> Delivery | None:
    """Send one pending event through the notifier of the ticket's account; None when it was
    not pending (already sent, or nothing to send)."""
    claimed = await asyncio.to_thread(_claim, engine, event_id)
    if claimed is None:
        return None
    event, ticket = claimed
    notifier = notifier_for(ticket.account)
    delivery = await notifier.notify(ticket.openid, notice_for(event, ticket), once=f"ticket-event:{event_id}")
    await asyncio.to_thread(record, engine, event_id, delivery)
    return delivery


def settle_stuck(engine: Engine, *, now: datetime | None = None, after: timedelta = STUCK_AFTER) -> int:
    """Mark events left `sending` by a dead worker `unknown`; the number marked.

    Whether the message reached the citizen cannot be known (WeChat has no receipt for a
    customer-service message), so it is never resent automatically: a second reminder or
    status notice annoys and confuses more than one missing. Staff see 「无法确认是否送达」."""
    cutoff = (now or datetime.now(UTC)) - after
    with Session(engine) as conn, conn.begin():
        result = conn.connection().execute(
            update(TicketEvent)
            .where(
                TicketEvent.delivery == "sending",
                or_(
                    TicketEvent.delivered_at < cutoff,
                    # Claimed by a version that did not stamp the claim: the event's own time.
                    and_(TicketEvent.delivered_at.is_(None), TicketEvent.at < cutoff),
                ),
            )
            .values(delivery=UNKNOWN, delivery_detail=INTERRUPTED)
        )
        return int(result.rowcount or 0)


def stale_pending(engine: Engine, *, now: datetime | None = None, after: timedelta = STALE_PENDING) -> list[int]:
    now = now or datetime.now(UTC)
    with Session(engine) as conn:
        query = (
            select(TicketEvent.id)
            .where(TicketEvent.delivery == "pending", TicketEvent.at < now - after,
                   TicketEvent.at >= now - PENDING_REACH)
            .order_by(TicketEvent.id)
            .limit(500)
        )
        return list(conn.execute(query).scalars())


async def deliver_stale(
    engine: Engine, notifier_for: Callable[[str], Notifier], *, now: datetime | None = None
) -> int:
    """Send events a dead worker left `pending` (never claimed, so never sent); the number sent
    or attempted. The claim makes this safe beside a desk worker delivering the same event."""
    done = 0
    for event_id in await asyncio.to_thread(stale_pending, engine, now=now):
        if await deliver(engine, notifier_for, event_id) is not None:
            done += 1
    return done
