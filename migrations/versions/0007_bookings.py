"""Bookings with database-enforced capacity and one booking per citizen, business and day (issue 18).

Revision ID: 0007
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = sa.text("status = 'booked'")


def upgrade() -> None:
    op.create_table(
        "bookings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("openid", sa.String(64), nullable=False),
        sa.Column("flow_id", sa.String(128), nullable=False),
        sa.Column("business", sa.String(64), nullable=False),
        sa.Column("hall", sa.String(64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("seat", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_bookings"),
        sa.UniqueConstraint("number", name="uq_bookings_number"),
    )
    op.create_index(
        "uq_bookings_seat", "bookings", ["account", "business", "hall", "day", "period", "seat"],
        unique=True, sqlite_where=ACTIVE, postgresql_where=ACTIVE,
    )
    op.create_index(
        "uq_bookings_citizen_day", "bookings", ["account", "openid", "business", "day"],
        unique=True, sqlite_where=ACTIVE, postgresql_where=ACTIVE,
    )
    op.create_index("ix_bookings_openid", "bookings", ["openid"])


def downgrade() -> None:
    op.drop_index("ix_bookings_openid", table_name="bookings")
    op.drop_index("uq_bookings_citizen_day", table_name="bookings")
    op.drop_index("uq_bookings_seat", table_name="bookings")
    op.drop_table("bookings")
