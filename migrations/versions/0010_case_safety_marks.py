"""cases: when the student's urgent act last alerted, got the urgent reply, was asked

The 🆘 button and urgent follow-ups re-alert at most once a minute, the urgent reply is
repeated at most once in ten minutes, and "are you in danger right now?" is asked at most
once a day per case. Nullable: existing cases have never done any of it.

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-07 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None

COLUMNS = ("urgent_alerted_at", "urgent_replied_at", "safety_asked_at")


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        for name in COLUMNS:
            batch_op.add_column(sa.Column(name, sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
