"""the psychologist's desk: a hand-over note on a case, and saved replies

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 08:00:00

`cases.handover_note_enc`: the note a psychologist leaves with /transfer or /release for
whoever takes the case next, sealed under the case key like its messages (gone with the
key when the case is shredded), cleared once shown to the one who took it.

`reply_templates`: a member's saved replies, per language, sealed under the member's own
key (staff-written text, never a student's words). A supervisor's templates marked
`shared` are offered to the psychologists of the supervisor's district beside their own.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("handover_note_enc", sa.LargeBinary(), nullable=True))
    op.create_table(
        "reply_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("body_enc", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_reply_templates_member_language", "reply_templates", ["member_id", "language"]
    )


def downgrade() -> None:
    op.drop_index("ix_reply_templates_member_language", table_name="reply_templates")
    op.drop_table("reply_templates")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("handover_note_enc")
