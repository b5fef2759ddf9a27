"""Service tickets with readable per-day numbers (`20261126-0012`), unique across workers and hosts.

The number comes from a per-day counter row bumped with one atomic upsert
(`INSERT … ON CONFLICT DO UPDATE … RETURNING`), in the same transaction as the ticket, so
two workers can never draw the same number and a failed insert never burns one. Both
PostgreSQL and SQLite (≥ 3.35) support the statement; SQLite serialises writers on its file lock.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, Insert, Table, bindparam, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from app.db.models import Ticket, TicketCounter
from app.desk import workflow
from app.desk.sla import SlaPolicy

# Ticket numbers follow the local calendar day of the service desk.
LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def ticket_number(day: str, seq: int) -> str:
    return f"{day}-{seq:04d}"


# A ticket is filed while the citizen waits, and building these statements afresh (values
# coerced, the cache key walked) was most of a ticket's ~2.5 ms of CPU: they are built once, on
# the Core table, and run with parameters (docs/reliability.md, "Round four").
_TICKETS = cast(Table, Ticket.__table__)


def _counter_upsert_for(dialect: object) -> Insert:
    table = cast(Table, TicketCounter.__table__)
    stmt = dialect.insert(table).values(day=bindparam("day"), last=1)  # type: ignore[attr-defined]
    return stmt.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=["day"], set_={"last": table.c.last + 1}
    ).returning(table.c.last)


_COUNTER_UPSERT = {"postgresql": _counter_upsert_for(postgresql), "sqlite": _counter_upsert_for(sqlite)}
_INSERT_TICKET = insert(_TICKETS)
_FILED_BY = select(_TICKETS.c.number).where(_TICKETS.c.delivery == bindparam("delivery"))


def _counter_upsert(dialect: str) -> Insert:
    try:
        return _COUNTER_UPSERT[dialect]
    except KeyError:
        raise NotImplementedError(f"ticket counters need PostgreSQL or SQLite, not {dialect}") from None


def create_ticket(
    engine: Engine,
    flow_id: str,
    openid: str,
    fields: Mapping[str, str],
    *,
    account: str = "default",
    delivery: str | None = None,
    user_id: str = "",
    now: datetime | None = None,
    consultation_id: str = "",
    sla: SlaPolicy | None = None,
) -> str:
    """Store a ticket and return its number. Blocking: call it via `asyncio.to_thread`.

    With `delivery` (AppID + the message's dedup key) the call is idempotent: a retry or replay
    of the same delivery, concurrent or later, gets the number of the ticket it filed, and no
    number is burned (the losing insert rolls back with its counter bump). The unique index on
    `tickets.delivery` is what decides, so this holds with the session store down (issue 15).
    """
    try:
        with engine.begin() as conn:
            # Looked up in the transaction that files: one transaction per ticket, and on a
            # SQLite writer engine (BEGIN IMMEDIATE, app.db.writes) nothing can file between
            # the look-up and the insert.
            existing = filed_by(conn, delivery) if delivery else None
            if existing is not None:
                return existing
            return insert_ticket(conn, flow_id, openid, fields, account=account, delivery=delivery,
                                 user_id=user_id, now=now, consultation_id=consultation_id, sla=sla)
    except IntegrityError:
        if not delivery:
            raise
        # A concurrent retry of the same delivery committed first: its ticket is ours.
        with engine.connect() as conn:
            existing = filed_by(conn, delivery)
        if existing is None:
            raise
        return existing


def insert_ticket(
    conn: Connection,
    flow_id: str,
    openid: str,
    fields: Mapping[str, str],
    *,
    account: str = "default",
    delivery: str | None = None,
    user_id: str = "",
    now: datetime | None = None,
    consultation_id: str = "",
    sla: SlaPolicy | None = None,
) -> str:
    """`create_ticket` inside the caller's transaction (a booking files its ticket with its seat).

    With `delivery`, a second insert for the same delivery raises IntegrityError (unique index):
    the caller rolls back and finds the first one with `filed_by`. Kind, category and contact
    mobile are derived from the flow's fields once, here, so the desk filters and searches on
    indexed columns; the deadlines come from `sla` (issue 17)."""
    created = (now or datetime.now(UTC)).astimezone(UTC)
    kind = workflow.kind_of(flow_id, fields)
    category = workflow.category_of(fields)
    policy = sla or SlaPolicy()
    response_due = policy.response_due(created, kind, category)
    day = created.astimezone(LOCAL_TZ).strftime("%Y%m%d")
    seq = conn.execute(_counter_upsert(conn.dialect.name), {"day": day}).scalar_one()
    number = ticket_number(day, seq)
    conn.execute(
        _INSERT_TICKET,
        {
            "number": number,
            "created_at": created,
            "flow_id": flow_id,
            "openid": openid,
            "fields": dict(fields),
            "status": workflow.NEW,
            "account": account,
            "delivery": delivery or None,
            "user_id": user_id,
            "kind": kind,
            "category": category,
            "phone": workflow.phone_of(fields),
            "consultation_id": consultation_id,
            "updated_at": created,
            "response_due_at": response_due,
            "resolve_due_at": policy.resolve_due(created, kind, category),
            "due_at": response_due,
        },
    )
    return number


def filed_by(conn: Connection, delivery: str) -> str | None:
    """The number of the ticket this delivery filed, if any."""
    number: str | None = conn.execute(_FILED_BY, {"delivery": delivery}).scalar()
    return number
