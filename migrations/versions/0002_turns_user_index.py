"""Index turns by user only: cheaper to maintain on every insert than (user, time).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_turns_user_received", table_name="turns")
    op.create_index("ix_turns_user_id", "turns", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_turns_user_id", table_name="turns")
    op.create_index("ix_turns_user_received", "turns", ["user_id", "received_at"])
