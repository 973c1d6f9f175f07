"""queue: partial indexes of open cases by pool (district, region)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 17:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

OPEN = sa.text("status = 'open'")


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index("ix_cases_open_by_district",
                              ["pool_district_id", "priority_rank", "created_at"],
                              unique=False, postgresql_where=OPEN, sqlite_where=OPEN)
        batch_op.create_index("ix_cases_open_by_region",
                              ["pool_region_id", "priority_rank", "created_at"],
                              unique=False, postgresql_where=OPEN, sqlite_where=OPEN)


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_open_by_region")
        batch_op.drop_index("ix_cases_open_by_district")
