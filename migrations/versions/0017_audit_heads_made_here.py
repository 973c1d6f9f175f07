"""audit log: every chain head exists from the start, made here instead of by writers

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 10:30:00

Writers used to start a chain's head when every existing one was held: a count(*), a
savepoint, and a rollback to it when another writer had inserted the same head first (in
200 messages, 16 savepoints, 12 rollbacks after an IntegrityError and 28 counts, issue 17).
The heads of all STRIPES chains are now rows from this migration on, empty (no rows yet, the
genesis hash), and a writer only locks one (bot/services/security/audit.py).

Existing databases keep their heads as they are (the chains already written go on from
them); only the missing ones are added. A stripe that has rows but no head (a head deleted
from outside) gets none here: `trustline audit verify` goes on reporting it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# bot.services.security.audit.STRIPES when this was written; a later change of it needs a
# migration of its own (heads are never made by the writers any more).
STRIPES = 16
GENESIS = "0" * 64


def upgrade() -> None:
    conn = op.get_bind()
    present = {row[0] for row in conn.execute(sa.text("SELECT id FROM audit_head"))}
    # Written chains without a head: leave them headless (verify reports them).
    headless = {
        row[0]
        for row in conn.execute(
            sa.text("SELECT DISTINCT stripe FROM audit_log WHERE stripe IS NOT NULL")
        )
    } - present
    missing = [
        {"id": stripe, "genesis": GENESIS}
        for stripe in range(1, STRIPES + 1)
        if stripe not in present and stripe not in headless
    ]
    if missing:
        # ON CONFLICT: an older release still running may start a head meanwhile.
        conn.execute(
            sa.text(
                "INSERT INTO audit_head (id, last_id, last_hash, count) "
                "VALUES (:id, 0, :genesis, 0) ON CONFLICT (id) DO NOTHING"
            ),
            missing,
        )


def downgrade() -> None:
    # The older release starts head n + 1 when it counts n heads: keep the heads 1..n up to
    # the last one that holds rows (a head in between stays, even empty), drop the empty
    # ones above it.
    op.execute(
        "DELETE FROM audit_head WHERE count = 0 AND id > "
        "(SELECT COALESCE(MAX(id), 0) FROM audit_head WHERE count > 0)"
    )
