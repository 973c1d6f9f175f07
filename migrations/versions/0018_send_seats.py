"""the seats of Telegram's overall send limit, shared by every process of the bot

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 10:40:00

Two webhook processes each kept Telegram's 30 sends a second for themselves, 60 together:
Telegram answers that with 429. `send_seats` holds the limit's seats (one row per send a
window allows, made by the first sender that needs them); a send holds a seat from its start
until a window after its answer (bot/delivery/ratelimit.py). Used on PostgreSQL only; on
SQLite, one process, the table stays empty.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "send_seats",
        sa.Column("seat", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("free_at", sa.Double(), nullable=False),
        sa.Column("paused_until", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("seat"),
    )


def downgrade() -> None:
    op.drop_table("send_seats")
