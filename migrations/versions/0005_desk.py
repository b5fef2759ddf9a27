"""The staff desk (issue 17): ticket workflow columns, ticket history, staff logins, audit log.

Tickets filed before the desk were all `open`: they become 新建 (new), with their kind and
category derived from the flow and fields as the desk derives them for new tickets.

Revision ID: 0005
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_when = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("kind", sa.String(8), nullable=False, server_default="留言"))
        batch.add_column(sa.Column("category", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("phone", sa.String(20), nullable=False, server_default=""))
        batch.add_column(sa.Column("assignee", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("consultation_id", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("updated_at", _when, nullable=True))
        batch.add_column(sa.Column("first_response_at", _when, nullable=True))
        batch.add_column(sa.Column("resolved_at", _when, nullable=True))
        batch.add_column(sa.Column("response_due_at", _when, nullable=True))
        batch.add_column(sa.Column("resolve_due_at", _when, nullable=True))
        batch.add_column(sa.Column("due_at", _when, nullable=True))
    op.create_index("ix_tickets_phone", "tickets", ["phone"])
    op.create_index("ix_tickets_assignee", "tickets", ["assignee"])
    op.create_index("ix_tickets_due_at", "tickets", ["due_at"])
    op.create_index("ix_tickets_status_due", "tickets", ["status", "due_at"])
    op.create_index("ix_tickets_created_at", "tickets", ["created_at"])
    op.create_index("ix_tickets_kind_category", "tickets", ["kind", "category"])
    tickets = sa.table(
        "tickets",
        sa.column("status", sa.String),
        sa.column("flow_id", sa.String),
        sa.column("kind", sa.String),
    )
    op.execute(tickets.update().where(tickets.c.status == "open").values(status="新建"))
    op.execute(tickets.update().where(tickets.c.flow_id == "complaint").values(kind="投诉"))
    op.execute(tickets.update().where(tickets.c.flow_id == "booking").values(kind="预约"))
    _backfill_category_and_phone()

    op.create_table(
        "ticket_events",
        sa.Column("id", _big_id, primary_key=True, autoincrement=True),
        sa.Column("ticket_id", _big_id, nullable=False),
        sa.Column("at", _when, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=False),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("request_key", sa.String(64), nullable=True),
        sa.Column("delivery", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("delivery_detail", sa.String(200), nullable=False),
        sa.Column("delivered_at", _when, nullable=True),
        sa.UniqueConstraint("request_key", name="uq_ticket_events_request_key"),
    )
    op.create_index("ix_ticket_events_ticket_id", "ticket_events", ["ticket_id", "id"])

    op.create_table(
        "staff",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("accounts", sa.String(500), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("session_version", sa.Integer(), nullable=False),
        sa.Column("created_at", _when, nullable=False),
        sa.Column("last_login_at", _when, nullable=True),
        sa.UniqueConstraint("username", name="uq_staff_username"),
    )

    op.create_table(
        "audit_log",
        sa.Column("id", _big_id, primary_key=True, autoincrement=True),
        sa.Column("at", _when, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("ticket_number", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])


# The labels app/desk/workflow.py reads a ticket's category and phone from, as of this revision
# (copied: a migration must keep meaning what it meant when it was written).
_CATEGORY_LABELS = ("问题类别", "办理业务", "类别")
_PHONE_LABELS = ("联系电话", "手机号码", "手机号")


def _backfill_category_and_phone() -> None:
    """Older tickets get the category and phone new tickets are filed with, so that the queue's
    filters and the phone search find them too."""
    tickets = sa.table(
        "tickets",
        sa.column("id", sa.BigInteger),
        sa.column("fields", sa.JSON),
        sa.column("category", sa.String),
        sa.column("phone", sa.String),
    )
    conn = op.get_bind()
    rows = conn.execute(sa.select(tickets.c.id, tickets.c.fields)).all()
    for ticket_id, fields in rows:
        fields = fields if isinstance(fields, dict) else {}
        category = next((str(fields[k])[:64] for k in _CATEGORY_LABELS if fields.get(k)), "")
        numbers = ("".join(c for c in str(fields.get(k, "")) if c.isdigit()) for k in _PHONE_LABELS)
        phone = next((digits[:20] for digits in numbers if digits), "")
        if category or phone:
            conn.execute(tickets.update().where(tickets.c.id == ticket_id).values(category=category, phone=phone))


def downgrade() -> None:
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("staff")
    op.drop_index("ix_ticket_events_ticket_id", table_name="ticket_events")
    op.drop_table("ticket_events")
    tickets = sa.table("tickets", sa.column("status", sa.String))
    op.execute(tickets.update().where(tickets.c.status == "新建").values(status="open"))
    for name in ("kind_category", "created_at", "status_due", "due_at", "assignee", "phone"):
        op.drop_index(f"ix_tickets_{name}", table_name="tickets")
    with op.batch_alter_table("tickets") as batch:
        for column in (
            "due_at", "resolve_due_at", "response_due_at", "resolved_at", "first_response_at", "updated_at",
            "consultation_id", "assignee", "phone", "category", "kind",
        ):
            batch.drop_column(column)
