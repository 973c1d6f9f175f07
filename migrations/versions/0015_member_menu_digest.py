"""a digest of the command menu last queued for a member's chat

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 10:10:00

Every start queued a setMyCommands row for every active member, and every process did so:
two webhook processes doubled the rows, and each restart of a large country queued thousands.
`members.menu_digest` records the menu last queued (bot.delivery.menus); a start queues only
the menus that changed, through a conditional update that one process wins.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("menu_digest", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_column("menu_digest")
