"""Topic subscriptions, campaign recipients and mass sends (issue 19).

Revision ID: 0008
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True)


def _when(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        _id(),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("openid", sa.String(64), nullable=False),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _when("created_at"),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_subscriptions"),
    )
    op.create_index("uq_subscriptions_citizen_topic", "subscriptions", ["account", "openid", "topic"], unique=True)
    op.create_index("ix_subscriptions_topic", "subscriptions", ["account", "topic", "status"])
    op.create_table(
        "push_recipients",
        _id(),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("campaign", sa.String(128), nullable=False),
        sa.Column("openid", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("errcode", sa.Integer(), nullable=True),
        sa.Column("msgid", sa.String(64), nullable=False, server_default=""),
        sa.Column("delivery", sa.String(32), nullable=False, server_default=""),
        _when("opened_at", nullable=True),
        _when("created_at"),
        _when("sent_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_push_recipients"),
    )
    op.create_index(
        "uq_push_recipients_citizen", "push_recipients", ["account", "campaign", "openid"], unique=True
    )
    op.create_index("ix_push_recipients_status", "push_recipients", ["account", "campaign", "status"])
    op.create_index("ix_push_recipients_msgid", "push_recipients", ["msgid"])
    op.create_table(
        "push_mass",
        _id(),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("campaign", sa.String(128), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.Column("clientmsgid", sa.String(64), nullable=False),
        sa.Column("msg_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("errcode", sa.Integer(), nullable=True),
        sa.Column("targeted", sa.Integer(), nullable=False),
        sa.Column("total_count", sa.Integer(), nullable=True),
        sa.Column("filter_count", sa.Integer(), nullable=True),
        sa.Column("sent_count", sa.Integer(), nullable=True),
        sa.Column("error_count", sa.Integer(), nullable=True),
        _when("created_at"),
        _when("finished_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_push_mass"),
    )
    op.create_index("uq_push_mass_campaign", "push_mass", ["account", "campaign"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_push_mass_campaign", table_name="push_mass")
    op.drop_table("push_mass")
    op.drop_index("ix_push_recipients_msgid", table_name="push_recipients")
    op.drop_index("ix_push_recipients_status", table_name="push_recipients")
    op.drop_index("uq_push_recipients_citizen", table_name="push_recipients")
    op.drop_table("push_recipients")
    op.drop_index("ix_subscriptions_topic", table_name="subscriptions")
    op.drop_index("uq_subscriptions_citizen_topic", table_name="subscriptions")
    op.drop_table("subscriptions")
