"""Tables: the turn log, pending erasures, service tickets with their per-day counters, and bookings.

Schema changes go through alembic (migrations/); these models are the single source the
migrations are written against.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend.

    SQLite has no time zones: without this, values come back naive and compare wrongly
    against aware ones.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# SQLite only auto-increments INTEGER PRIMARY KEY, not BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    # Named constraints, so migrations can refer to them on every backend.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_name)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime}


class TurnRow(Base):
    """One row per delivery, retries included; the text is masked and the user pseudonymous."""

    __tablename__ = "turns"
    __table_args__ = (
        Index("ix_turns_received_at", "received_at"),
        # Only the user: erasure finds a user's rows with it; reports sort a time range anyway.
        # A composite (user, time) index cost the writer a third more per row (bench/turnlog.py).
        # PostgreSQL only: on SQLite, the embedded single-host default, its random inserts cost
        # the writer more than the table scan it saves erasure (migration 0003).
        Index("ix_turns_user_id", "user_id").ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # Generated when the callback submits the record; makes spool replays idempotent.
    record_id: Mapped[str] = mapped_column(String(32), unique=True)
    received_at: Mapped[datetime]
    account: Mapped[str] = mapped_column(String(64), default="")
    user_id: Mapped[str] = mapped_column(String(64))
    consultation_id: Mapped[str] = mapped_column(String(64), default="")
    turn_index: Mapped[int] = mapped_column(Integer, default=0)
    msg_type: Mapped[str] = mapped_column(String(32), default="")
    event: Mapped[str] = mapped_column(String(64), default="")
    dedup_key: Mapped[str] = mapped_column(String(200), default="")
    is_retry: Mapped[bool] = mapped_column(Boolean, default=False)
    text: Mapped[str] = mapped_column(Text, default="")
    route: Mapped[str] = mapped_column(String(32), default="")
    faq_id: Mapped[str] = mapped_column(String(128), default="")
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    flow_id: Mapped[str] = mapped_column(String(128), default="")
    step: Mapped[str] = mapped_column(String(128), default="")
    reply_type: Mapped[str] = mapped_column(String(32), default="")
    reply_bytes: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    stages: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    outcome: Mapped[str] = mapped_column(String(16), default="passive")
    late_detail: Mapped[str] = mapped_column(String(128), default="")
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)
    satisfaction: Mapped[str] = mapped_column(String(16), default="")


class TurnErasure(Base):
    """A user who unsubscribed: rows received up to `erased_at` get `replacement` as their id.

    Kept only long enough to catch rows still queued or spooled when the erasure ran (other
    workers, a database outage); `wxbot db purge` and the writer drop expired entries.
    """

    __tablename__ = "turn_erasures"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    replacement: Mapped[str] = mapped_column(String(64))
    erased_at: Mapped[datetime]


class TicketCounter(Base):
    """The last number issued per local day; incremented atomically with an upsert."""

    __tablename__ = "ticket_counters"

    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class Ticket(Base):
    """A service request a flow filed (complaint, appointment, …), numbered `YYYYMMDD-NNNN`."""

    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime]
    flow_id: Mapped[str] = mapped_column(String(128))
    # Raw OpenID: staff answer the ticket through the customer-service API, which needs it.
    openid: Mapped[str] = mapped_column(String(64), index=True)
    fields: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="新建")
    # The Official Account (app.accounts id) the ticket was filed through; staff queues filter on it.
    account: Mapped[str] = mapped_column(String(64), default="default", server_default="default", index=True)
    # The delivery that filed it (AppID + MsgId / event key): a retry or replay finds this ticket
    # instead of filing another, with or without the session store (issue 15).
    delivery: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # The keyed pseudonym of the OpenID (as turns.user_id): how erasure finds a user's tickets.
    user_id: Mapped[str] = mapped_column(String(64), default="", server_default="", index=True)
    # Set when the user left and the closed ticket's personal data was erased (docs/privacy.md).
    erased_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # The desk's workflow (issue 17, migration 0005). Status is the label staff and citizens
    # read (app/desk/workflow.py); `open` from before the desk became 新建.
    kind: Mapped[str] = mapped_column(String(8), default="留言", server_default="留言")
    category: Mapped[str] = mapped_column(String(64), default="", server_default="")
    # The contact mobile the citizen gave, for search; shown masked until an agent opens the ticket.
    phone: Mapped[str] = mapped_column(String(20), default="", server_default="", index=True)
    assignee: Mapped[str] = mapped_column(String(64), default="", server_default="", index=True)
    # The consultation (turn log) that filed it: the desk shows the turns that led to it.
    consultation_id: Mapped[str] = mapped_column(String(64), default="", server_default="")
    updated_at: Mapped[datetime | None] = mapped_column(nullable=True)
    first_response_at: Mapped[datetime | None] = mapped_column(nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(nullable=True)
    response_due_at: Mapped[datetime | None] = mapped_column(nullable=True)
    resolve_due_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # The next deadline of an open ticket (first response, then resolution); NULL once closed.
    # The queue sorts on it, so overdue tickets come first straight from the index.
    due_at: Mapped[datetime | None] = mapped_column(nullable=True, index=True)

    __table_args__ = (
        Index("uq_tickets_delivery", "delivery", unique=True),
        Index("ix_tickets_status_due", "status", "due_at"),
        Index("ix_tickets_created_at", "created_at"),
        # The queue's kind and category filters (bench/desk.py: 195 → … ms at 100,000 tickets).
        Index("ix_tickets_kind_category", "kind", "category"),
    )


class TicketEvent(Base):
    """A ticket's history: status changes, assignments, replies, with what reached the citizen.

    `delivery` is the notification's state: `none` (nothing to send), `pending`, `sending`
    (claimed by one worker), `sent`, `failed`, `impossible` (no channel open); `channel` is
    `kf` (customer-service message) or `template`. `request_key` makes a form submitted twice
    (a double click, a proxy retry) one event.
    """

    __tablename__ = "ticket_events"
    __table_args__ = (Index("ix_ticket_events_ticket_id", "ticket_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(BigId)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(16))
    from_status: Mapped[str] = mapped_column(String(16), default="")
    to_status: Mapped[str] = mapped_column(String(16), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    request_key: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    delivery: Mapped[str] = mapped_column(String(16), default="none")
    channel: Mapped[str] = mapped_column(String(16), default="")
    delivery_detail: Mapped[str] = mapped_column(String(200), default="")
    delivered_at: Mapped[datetime | None] = mapped_column(nullable=True)


class StaffUser(Base):
    """A desk login. `session_version` is bumped on disable and password change, which ends
    every session signed with the old value."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    # Comma-separated app.accounts ids this user may see; empty means every account.
    accounts: Mapped[str] = mapped_column(String(500), default="")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None] = mapped_column(nullable=True)


class AuditEntry(Base):
    """Who did what, when, to which ticket: every staff action on the desk and the CLI."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    ticket_number: Mapped[str] = mapped_column(String(32), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    address: Mapped[str] = mapped_column(String(64), default="")


# Only active bookings hold a seat or a citizen's day: a cancelled row leaves both indexes.
_ACTIVE_BOOKING = text("status = 'booked'")


class Booking(Base):
    """An appointment at a hall: the ticket it was filed as, and the seat it holds (issue 18).

    Capacity is enforced by the database, not by counting first: each active booking holds a
    seat number 1..capacity of its business, hall, day and period, unique among active rows,
    so two workers can never hand out the same seat, and one citizen holds at most one active
    booking per business and day. A cancelled booking leaves both indexes and frees its seat.
    """

    __tablename__ = "bookings"
    __table_args__ = (
        Index(
            "uq_bookings_seat", "account", "business", "hall", "day", "period", "seat",
            unique=True, sqlite_where=_ACTIVE_BOOKING, postgresql_where=_ACTIVE_BOOKING,
        ),
        Index(
            "uq_bookings_citizen_day", "account", "openid", "business", "day",
            unique=True, sqlite_where=_ACTIVE_BOOKING, postgresql_where=_ACTIVE_BOOKING,
        ),
        Index("ix_bookings_openid", "openid"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # The ticket number printed in the confirmation (`20261206-0005`); it stays through a change.
    number: Mapped[str] = mapped_column(String(32), unique=True)
    account: Mapped[str] = mapped_column(String(64), default="default")
    openid: Mapped[str] = mapped_column(String(64))
    flow_id: Mapped[str] = mapped_column(String(128))
    business: Mapped[str] = mapped_column(String(64))
    hall: Mapped[str] = mapped_column(String(64))
    day: Mapped[date] = mapped_column(Date)
    period: Mapped[str] = mapped_column(String(16))
    seat: Mapped[int] = mapped_column(Integer)
    # booked | cancelled
    status: Mapped[str] = mapped_column(String(16), default="booked")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Subscription(Base):
    """A citizen's standing with one topic (issue 19): offered once, subscribed, or unsubscribed.

    One row per account, citizen and topic: the offer after an FAQ answer is made only when no
    row exists, so it is made once and never again, whatever the citizen answered.
    """

    __tablename__ = "subscriptions"
    __table_args__ = (
        Index("uq_subscriptions_citizen_topic", "account", "openid", "topic", unique=True),
        Index("ix_subscriptions_topic", "account", "topic", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(64), default="default")
    openid: Mapped[str] = mapped_column(String(64))
    topic: Mapped[str] = mapped_column(String(64))
    # offered | subscribed | unsubscribed
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PushRecipient(Base):
    """One citizen of one campaign (issue 19): the unit a send job resumes from.

    The unique (account, campaign, openid) row is the idempotency key: a restarted job only
    sends rows still `pending`, and a row is claimed (`sending`) before the call, so a crash
    between the call and the commit leaves a `sending` row that is reconciled, never resent
    blindly (see app/push/send.py).
    """

    __tablename__ = "push_recipients"
    __table_args__ = (
        Index("uq_push_recipients_citizen", "account", "campaign", "openid", unique=True),
        Index("ix_push_recipients_status", "account", "campaign", "status"),
        Index("ix_push_recipients_msgid", "msgid"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(64), default="default")
    campaign: Mapped[str] = mapped_column(String(128))
    openid: Mapped[str] = mapped_column(String(64))
    # template | mass
    channel: Mapped[str] = mapped_column(String(16))
    # pending | sending | sent | failed | blocked | unsubscribed | capped | quiet
    status: Mapped[str] = mapped_column(String(16), default="pending")
    errcode: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # WeChat's msgid for a template message: TEMPLATESENDJOBFINISH names it.
    msgid: Mapped[str] = mapped_column(String(64), default="", server_default="")
    # From TEMPLATESENDJOBFINISH: success | failed:user block | failed: system failed.
    delivery: Mapped[str] = mapped_column(String(32), default="", server_default="")
    opened_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True)


class PushMass(Base):
    """One mass send of a campaign to a tag (issue 19), with WeChat's MASSSENDJOBFINISH counts."""

    __tablename__ = "push_mass"
    __table_args__ = (Index("uq_push_mass_campaign", "account", "campaign", unique=True),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(64), default="default")
    campaign: Mapped[str] = mapped_column(String(128))
    tag_id: Mapped[int] = mapped_column(Integer)
    # Sent as `clientmsgid`: WeChat refuses a second mass send with the same one (24 h).
    clientmsgid: Mapped[str] = mapped_column(String(64))
    msg_id: Mapped[str] = mapped_column(String(64), default="", server_default="")
    # pending | sent | failed | finished
    status: Mapped[str] = mapped_column(String(16), default="pending")
    errcode: Mapped[int | None] = mapped_column(Integer, nullable=True)
    targeted: Mapped[int] = mapped_column(Integer, default=0)
    total_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    filter_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    sent_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
