"""the retention period whose key wraps a case's data key

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 10:40:00

A case's data key is now wrapped by the key of its retention period (a month, in a file
beside the master key, never in the database) and then by the master key; `cases.key_period`
names that period ("YYYY-MM"). Rows written before name none (NULL): their key is wrapped by
the master key alone, opens as before, and the next retention pass rewraps it under its
period's key (bot.services.security.retention.settle_periods). Nothing is rewrapped here: a
migration has no keys.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key_period", sa.String(length=7), nullable=True))
        batch_op.create_index("ix_cases_key_period", ["key_period"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_key_period")
        batch_op.drop_column("key_period")
