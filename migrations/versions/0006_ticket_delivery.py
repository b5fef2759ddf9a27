"""Tickets keyed on the delivery that filed them, and what erasure needs (issue 15).

- `delivery`: AppID + the message's dedup key (MsgId, or the event key). Unique: a retried or
  replayed delivery finds its ticket instead of filing another, even with the session store down.
- `user_id`: the keyed pseudonym of the OpenID (as in `turns.user_id`), so a user's tickets are
  found for erasure without keeping a second copy of the raw OpenID anywhere.
- `erased_at`: when the ticket's personal data was erased (the user left and the ticket was closed).

Revision ID: 0006
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("delivery", sa.String(200), nullable=True))
        batch.add_column(sa.Column("user_id", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("uq_tickets_delivery", "tickets", ["delivery"], unique=True)
    op.create_index("ix_tickets_user_id", "tickets", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_tickets_user_id", table_name="tickets")
    op.drop_index("uq_tickets_delivery", table_name="tickets")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("erased_at")
        batch.drop_column("user_id")
        batch.drop_column("delivery")
