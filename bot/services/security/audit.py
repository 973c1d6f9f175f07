"""Hash-chained audit log, written in the same transaction as the change it records.

Rows form hash chains: each row's hash covers the previous row of its chain, and a head
row per chain holds the chain's last hash, last id and length. `verify` recomputes every
hash: an edited, inserted or deleted row breaks a chain or disagrees with its head.

Every writer in the system appends to the log, so the log must not make them queue behind
one another (benchmarks/BENCHMARKS.md, "audit head"). Two things keep it so:

- `record` only notes a row; the transaction writes its rows when it commits, after
  flushing its own changes. A head is locked for the last statements of a transaction
  (lock, insert, update, commit), not from the first `record` to the commit.
- A writer takes the first head nobody holds (`FOR UPDATE SKIP LOCKED`), so a lone writer
  always extends chain 1, and writers that commit at the same instant extend different
  chains instead of waiting. Up to STRIPES chains are started as they are needed. On
  SQLite, whose writers are serialised anyway, there is only ever chain 1.

Within a chain rows are inserted while its head is held, so ids grow along every chain and
`verify` can walk all of them in id order. A row noted inside a savepoint that is rolled
back is dropped with it; a transaction that rolls back writes none.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from bot.db.models import AuditEntry, AuditHead

GENESIS = "0" * 64


def _digest(
    prev_hash: str, at: datetime, actor: str, event: str, code: str | None, detail: str
) -> str:
    material = json.dumps(
        [prev_hash, at.isoformat(), actor, event, code or "", detail], ensure_ascii=False
    )
    return hashlib.sha256(material.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class _Noted:
    at: datetime
    actor: str
    event: str
    case_code: str | None
    detail: str
    # The savepoint (or the transaction) it was noted in, to drop it if that rolls back.
    transaction: SessionTransaction | None


_NOTED = "trustline_audit_noted"


async def record(
    session: AsyncSession,
    *,
    actor: str,
    event: str,
    now: datetime,
    case_code: str | None = None,
    detail: dict[str, str | int] | None = None,
) -> None:
    """Append one audit row when this transaction commits. `detail` holds our own ids and
    enums, never content."""
    sync = session.sync_session
    noted: list[_Noted] = sync.info.setdefault(_NOTED, [])
    noted.append(
        _Noted(
            at=now,
            actor=actor,
            event=event,
            case_code=case_code,
            detail=json.dumps(detail or {}, sort_keys=True, ensure_ascii=False),
            transaction=sync.get_nested_transaction() or sync.get_transaction(),
        )
    )


def _append_noted(session: Session) -> None:
    """Before a commit: write the transaction's rows at the end of the chain."""
    if session.in_nested_transaction():
        return  # a savepoint is released: the rows wait for the transaction's commit
    noted: list[_Noted] = session.info.pop(_NOTED, None) or []
    if not noted:
        return
    session.flush()  # the transaction's own changes first, before taking a head
    head = _take_head(session)
    prev = head.last_hash
    entries = []
    for row in noted:
        entry_hash = _digest(prev, row.at, row.actor, row.event, row.case_code, row.detail)
        entries.append(
            AuditEntry(
                at=row.at,
                actor=row.actor,
                event=row.event,
                case_code=row.case_code,
                detail=row.detail,
                prev_hash=prev,
                hash=entry_hash,
            )
        )
        prev = entry_hash
    session.add_all(entries)
    session.flush()  # one INSERT for all of them; ids follow the chain's order
    head.last_id = entries[-1].id
    head.last_hash = prev
    head.count = head.count + len(entries)


STRIPES = 16


def _take_head(session: Session) -> AuditHead:
    """Lock the first head nobody holds; start a new chain when all are held (up to
    STRIPES), else wait for a random one."""
    free = session.scalar(
        select(AuditHead).order_by(AuditHead.id).limit(1).with_for_update(skip_locked=True)
    )
    if free is not None:
        return free
    started = session.scalar(select(func.count()).select_from(AuditHead)) or 0
    if started < STRIPES:
        head = AuditHead(id=started + 1, last_id=0, last_hash=GENESIS, count=0)
        try:
            with session.begin_nested():
                session.add(head)
            return head  # a new row is ours until we commit
        except IntegrityError:
            started = session.scalar(select(func.count()).select_from(AuditHead)) or 0
    chosen = random.randint(1, max(started, 1))
    held = session.scalar(select(AuditHead).where(AuditHead.id == chosen).with_for_update())
    assert held is not None, "audit heads are never deleted"
    return held


def _within(transaction: SessionTransaction | None, ended: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ended:
            return True
        transaction = transaction.parent
    return False


def _drop_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    noted: list[_Noted] | None = session.info.get(_NOTED)
    if not noted:
        return
    if not previous_transaction.nested:
        session.info.pop(_NOTED, None)
        return
    session.info[_NOTED] = [n for n in noted if not _within(n.transaction, previous_transaction)]


event.listen(Session, "before_commit", _append_noted)
event.listen(Session, "after_soft_rollback", _drop_rolled_back)


@dataclass(frozen=True)
class AuditReport:
    ok: bool
    rows: int
    problem: str = ""
    row_id: int | None = None


async def verify(session: AsyncSession) -> AuditReport:
    heads = (await session.scalars(select(AuditHead).order_by(AuditHead.id))).all()
    # The tips of the chains so far (as a multiset: every chain starts at the genesis).
    tips: Counter[str] = Counter({GENESIS: len(heads)})
    id_of: dict[str, int] = {}
    rows = 0
    result = await session.stream_scalars(select(AuditEntry).order_by(AuditEntry.id))
    async for entry in result:
        if tips[entry.prev_hash] <= 0:
            if not heads:
                return AuditReport(False, rows, "audit head is missing")
            return AuditReport(False, rows, "chain broken before this row", entry.id)
        expected = _digest(
            entry.prev_hash, entry.at, entry.actor, entry.event, entry.case_code, entry.detail
        )
        if expected != entry.hash:
            return AuditReport(False, rows, "row content does not match its hash", entry.id)
        tips[entry.prev_hash] -= 1
        tips[entry.hash] += 1
        id_of[entry.hash] = entry.id
        rows += 1
    if not heads:
        return AuditReport(True, 0)
    expected_tips = Counter(head.last_hash for head in heads)
    if (
        +tips != expected_tips
        or sum(head.count for head in heads) != rows
        or any(head.count and id_of.get(head.last_hash) != head.last_id for head in heads)
    ):
        return AuditReport(False, rows, "rows were deleted at the end of the chain")
    return AuditReport(True, rows)
