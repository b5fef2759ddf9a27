"""SQLite: no user index on turns; erasure scans the table instead.

Every row's pseudonymous user id lands on a random page of that index: about 5 µs of the
writer's ~35 µs per row (bench/turnlog.py), paid on the host that serves the replies. It only
speeds up erasure, a handful of times a day, which scans a million rows in 0.6–0.7 s off the
hot path. PostgreSQL, on its own server and with far larger tables, keeps it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index("ix_turns_user_id", table_name="turns")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.create_index("ix_turns_user_id", "turns", ["user_id"])
