"""outbox: the Telegram message id of what was sent, and which rows are a case's card

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 07:30:00

A pool's card of a case (new case, urgent alert, re-alert, a case back in the pool) offers
the case to every member of the pool. Once one of them takes it, the others' cards are
edited to say it was taken (bot.services.casework.notify.cards_taken), which needs the id of
each card's message in each chat: the sender now keeps `message_id` on the row it sent, and
`card_case_id` marks the rows that are cards of a case (cleared once edited). Both go when
the finished row is purged, a week after it was sent.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("card_case_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_outbox_card_case_id"), ["card_case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_card_case_id"))
        batch_op.drop_column("card_case_id")
        batch_op.drop_column("message_id")
