"""Deliver the ticket events a citizen should hear about, each at most once.

An event is written `pending` in the same transaction as the action. Delivering it first
claims the row (`pending` → `sending` in one UPDATE; only one worker's UPDATE matches), then
sends through `app.notify` with the event id as the `once` key, then stores the result. A worker
that dies between claim and result leaves the row `sending`: the desk shows it as unconfirmed
rather than risk telling the citizen twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine, select, update
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
            .values(delivery="sending")
        ).rowcount
        if not claimed:
            return None
        event = conn.execute(select(TicketEvent).where(TicketEvent.id == event_id)).scalar_one()
        ticket = conn.execute(select(Ticket).where(Ticket.id == event.ticket_id)).scalar_one()
    return event, ticket


def _store(engine: Engine, event_id: int, delivery: Delivery) -> None:
    with Session(engine, expire_on_commit=False) as conn, conn.begin():
        conn.execute(
            update(TicketEvent)
            .where(TicketEvent.id == event_id)
            .values(
                delivery="sent" if delivery.ok else ("impossible" if "no_template" in delivery.detail else "failed"),
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
    await asyncio.to_thread(_store, engine, event_id, delivery)
    return delivery
