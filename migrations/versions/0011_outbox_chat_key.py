"""outbox: a keyed queue for replies to someone who is neither a member nor on a case

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 04:00:00

A reply to a person the bot has no case or account for (a new student's /start, /help
before the first message, the confirmation of /forget, a deactivated member) is addressed
by `chat_key`: an HMAC of the chat under the pseudonym key, kept only while the row is
unsent. It orders that chat's rows and paces them like any other chat; the chat id itself
travels sealed inside the row's payload.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chat_key", sa.LargeBinary(length=32), nullable=True))


def downgrade() -> None:
    # Rows still waiting for such a chat cannot be addressed without the key: they go.
    op.execute("DELETE FROM outbox WHERE case_id IS NULL AND member_id IS NULL")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("chat_key")
