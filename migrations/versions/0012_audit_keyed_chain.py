"""audit log: rows name their stripe and the audit key that chained them; digests sent once

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 07:00:00

Rows are now chained with an HMAC under an audit key kept outside the database; `key_id`
names that key (rows written before have none and keep their plain SHA-256 hashes), and
`stripe` names the chain (the audit_head row) a row belongs to, so `trustline audit verify`
can say which chain lost rows. Rows written before are given their stripe here, by walking
each head's chain back from its last hash; a row on no chain keeps none (verify reports it).
`audit_digests_sent` makes the supervisors' checkpoint digest go out once per period.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

BATCH = 500


def upgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stripe", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("key_id", sa.String(length=16), nullable=True))
    op.create_table(
        "audit_digests_sent",
        sa.Column("period", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("period", name=op.f("pk_audit_digests_sent")),
    )
    conn = op.get_bind()
    heads = conn.execute(sa.text("SELECT id, last_hash FROM audit_head")).all()
    if not heads:
        return
    by_hash = {
        row_hash: (row_id, prev)
        for row_id, row_hash, prev in conn.execute(
            sa.text("SELECT id, hash, prev_hash FROM audit_log")
        )
    }
    assign = sa.text("UPDATE audit_log SET stripe = :stripe WHERE id IN :ids").bindparams(
        sa.bindparam("ids", expanding=True)
    )
    for stripe, last_hash in heads:
        ids: list[int] = []
        step = by_hash.get(last_hash)
        while step is not None and len(ids) < len(by_hash):
            ids.append(step[0])
            step = by_hash.get(step[1])
        for start in range(0, len(ids), BATCH):
            conn.execute(assign, {"stripe": stripe, "ids": ids[start : start + BATCH]})


def downgrade() -> None:
    # Rows chained with the key cannot be told from tampered ones by the old verify:
    # downgrading makes `trustline audit verify` of an older release report them.
    op.drop_table("audit_digests_sent")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_column("key_id")
        batch_op.drop_column("stripe")
