"""Tickets carry the Official Account they were filed through (issue 16).

Existing rows belong to the single account a deployment served before: `default`.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("account", sa.String(64), nullable=False, server_default="default"))
    op.create_index("ix_tickets_account", "tickets", ["account"])


def downgrade() -> None:
    op.drop_index("ix_tickets_account", table_name="tickets")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("account")
