"""Keyed hash-chained audit log, written in the same transaction as the change it records.

Rows form hash chains ("stripes"): each row's hash is an HMAC, under an audit key the
database does not hold (bot/services/security/audit_keys.py), over its stripe, the previous
row's hash and its content; the row names the key that chained it (`key_id`), so rows
chained before a new key was added still verify. A head row per stripe holds the stripe's
last hash, last id and length. Without the key nobody can edit a row and hash it again, or
forge rows; what the database alone cannot show (its newest rows deleted and the head set
back, a whole stripe dropped, everything emptied) is caught against the checkpoints kept
outside it (bot/services/security/audit_checkpoints.py). `verify` reports every finding.

Every writer in the system appends to the log, so the log must not make them queue behind
one another (benchmarks/BENCHMARKS.md, "audit head"). Two things keep it so:

- `record` only notes a row; the transaction writes its rows when it commits, after
  flushing its own changes. A head is locked for the last statements of a transaction
  (lock, insert, update, commit), not from the first `record` to the commit.
- A writer takes the first head nobody holds (`FOR UPDATE SKIP LOCKED`), so a lone writer
  always extends chain 1, and writers that commit at the same instant extend different
  chains instead of waiting. The STRIPES heads are rows from the migration on (0017), empty
  until a writer first takes them: taking one is one statement, never an insert. On
  SQLite, whose writers are serialised anyway, only chain 1 is ever extended.

Within a chain rows are inserted while its head is held, so ids grow along every chain and
`verify` can walk all of them in id order. A row noted inside a savepoint that is rolled
back is dropped with it; a transaction that rolls back writes none. The key costs one HMAC
per row and no statement: it is bound to the database once, at start (`bind_keys`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, event, func, select
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from bot.config import Settings
from bot.db.models import AuditEntry, AuditHead, Member
from bot.services.errors import ConfigError
from bot.services.security import audit_keys
from bot.services.security.audit_keys import AuditKey, AuditKeyring

if TYPE_CHECKING:
    from bot.services.security.audit_checkpoints import Checkpoint

GENESIS = "0" * 64


def _legacy_digest(
    prev_hash: str, at: datetime, actor: str, event: str, code: str | None, detail: str
) -> str:
    """The unkeyed hash of rows written before keyed chaining (no key_id)."""
    material = json.dumps(
        [prev_hash, at.isoformat(), actor, event, code or "", detail], ensure_ascii=False
    )
    return hashlib.sha256(material.encode()).hexdigest()


def _chain_hash(
    key: AuditKey,
    stripe: int,
    prev_hash: str,
    at: datetime,
    actor: str,
    event: str,
    code: str | None,
    detail: str,
) -> str:
    material = json.dumps(
        ["audit-row", stripe, prev_hash, at.isoformat(), actor, event, code or "", detail],
        ensure_ascii=False,
    )
    return key.mac(material.encode())


# The audit keyring of each database, bound at start by the app's assembly (bot.app).
_KEYRINGS: dict[URL, AuditKeyring] = {}


class AuditKeyMissing(RuntimeError):
    """Audit rows were to be written to a database no audit key was bound to."""


def use_keys(engine: AsyncEngine | Engine, keyring: AuditKeyring) -> None:
    """Chain the rows written to this engine's database with `keyring`'s current key (every
    engine on the same database, e.g. a second pool, uses it too)."""
    _KEYRINGS[engine.url] = keyring


async def bind_keys(engine: AsyncEngine, settings: Settings) -> AuditKeyring:
    """Load the audit keyring (its file made on the first start) and bind it to the engine.

    A key file made now while the log already holds rows chained with a key it does not
    have means this instance is not using the other instances' key (a new working
    directory, the master key in the environment): refused before it writes a row, and the
    new file removed, instead of a log that no longer verifies."""
    path = audit_keys.key_file_path(settings)
    if path.exists():
        keyring = audit_keys.load(settings)
    else:
        # A database that cannot be reached fails here, before a key file is written.
        async with engine.connect() as conn:
            try:
                other = await conn.scalar(
                    select(AuditEntry.key_id).where(AuditEntry.key_id.is_not(None)).limit(1)
                )
            except DBAPIError:  # not migrated yet: no row to protect
                other = None
        keyring = audit_keys.load(settings)
        if other is not None and keyring.get(other) is None:
            path.unlink(missing_ok=True)
            await engine.dispose()
            raise ConfigError(
                f"The audit key file {path} did not exist, but the audit log holds rows "
                f"chained with audit key {other}: copy the audit key file of the first "
                "instance there, or point TRUSTLINE_AUDIT_KEY_FILE at it."
            )
    use_keys(engine, keyring)
    return keyring


def keys_for(bind: AsyncEngine | Engine | Connection) -> AuditKeyring | None:
    return _KEYRINGS.get(bind.engine.url if isinstance(bind, Connection) else bind.url)


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


def member_actor(member: Member) -> str:
    """How a member appears in the audit log: their number, nothing else."""
    return f"member:{member.id}"


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
    keyring = keys_for(session.get_bind())
    if keyring is None:
        raise AuditKeyMissing(
            "no audit key is bound to this database (bot.services.security.audit.use_keys)"
        )
    key = keyring.current
    session.flush()  # the transaction's own changes first, before taking a head
    head = _take_head(session)
    prev = head.last_hash
    entries = []
    for row in noted:
        entry_hash = _chain_hash(
            key, head.id, prev, row.at, row.actor, row.event, row.case_code, row.detail
        )
        entries.append(
            AuditEntry(
                at=row.at,
                actor=row.actor,
                event=row.event,
                case_code=row.case_code,
                detail=row.detail,
                prev_hash=prev,
                hash=entry_hash,
                stripe=head.id,
                key_id=key.key_id,
            )
        )
        prev = entry_hash
    session.add_all(entries)
    session.flush()  # one INSERT for all of them; ids follow the chain's order
    head.last_id = entries[-1].id
    head.last_hash = prev
    head.count = head.count + len(entries)


# Chains, and so heads: all of them exist from migration 0017 on (writers never make one).
# Changing this needs a migration that adds (or retires) heads.
STRIPES = 16


class AuditHeadsMissing(RuntimeError):
    """The audit_head table has no row: the database was not migrated (or emptied)."""


def _take_head(session: Session) -> AuditHead:
    """Lock the first head nobody holds (one statement, nothing written: the heads are
    made by migration 0017); when every one is held, wait for one chosen at random.

    Before 0017 a writer that found every head held counted them and started the next one
    in a savepoint, rolled back when a concurrent writer had started it first: in 200
    messages, 16 savepoints, 12 rollbacks and 28 counts (issue 17)."""
    free = session.scalar(
        select(AuditHead).order_by(AuditHead.id).limit(1).with_for_update(skip_locked=True)
    )
    if free is not None:
        return free
    held = session.scalar(select(AuditHead).order_by(func.random()).limit(1).with_for_update())
    if held is None:
        raise AuditHeadsMissing(
            "the audit_head table is empty: run `trustline db upgrade` (migration 0017 makes "
            "the heads); if it was emptied, `trustline audit verify` says what else is gone"
        )
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


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing `verify` found wrong: what, and where (a row id when there is one)."""

    what: str
    row_id: int | None = None


@dataclass(frozen=True)
class AuditReport:
    rows: int
    findings: tuple[Finding, ...] = ()
    legacy_rows: int = 0  # rows from before keyed chaining (pinned by the keyed rows after)
    stripes: int = 0  # chains holding rows

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def problem(self) -> str:
        return self.findings[0].what if self.findings else ""

    @property
    def row_id(self) -> int | None:
        return self.findings[0].row_id if self.findings else None


@dataclass
class _Walk:
    """Where the walk of one stripe is: its tip, length and last row."""

    prev: str = GENESIS
    count: int = 0
    last_id: int = 0
    pinned: int = 0  # the most rows any checkpoint recorded in this stripe
    marks: dict[int, tuple[str, Checkpoint]] = field(default_factory=dict)


async def verify(
    session: AsyncSession,
    keyring: AuditKeyring | None = None,
    checkpoints: Sequence[Checkpoint] = (),
) -> AuditReport:
    """Check every row's keyed hash and link, every head, and every checkpoint taken
    outside the database (each stripe must still reach the length and hash it had then).
    The keyring defaults to the one bound to the session's database."""
    keyring = keyring or keys_for(session.get_bind())
    if keyring is None:
        raise AuditKeyMissing("no audit key to verify the audit log with")
    findings: list[Finding] = []
    heads = {h.id: h for h in (await session.scalars(select(AuditHead))).all()}
    walks: dict[int | None, _Walk] = {}
    for checkpoint in checkpoints:
        for mark in checkpoint.stripes:
            if not mark.count:
                continue  # an empty stripe pins nothing
            walk = walks.setdefault(mark.stripe, _Walk())
            walk.marks[mark.count] = (mark.last_hash, checkpoint)
            walk.pinned = max(walk.pinned, mark.count)
    rows = legacy = 0
    keyed_from: int | None = None  # the first keyed row: every row after it is keyed
    result = await session.stream_scalars(select(AuditEntry).order_by(AuditEntry.id))
    async for entry in result:
        rows += 1
        where = f"row {entry.id} (stripe {entry.stripe})"
        walk = walks.setdefault(entry.stripe, _Walk())
        if entry.prev_hash != walk.prev:
            after = f"row {walk.last_id}" if walk.count else "the start of the stripe"
            findings.append(
                Finding(
                    f"{where}: does not follow {after} (rows deleted, inserted or edited "
                    "before it)",
                    entry.id,
                )
            )
        if entry.key_id is None:
            legacy += 1
            expected = _legacy_digest(
                entry.prev_hash, entry.at, entry.actor, entry.event, entry.case_code, entry.detail
            )
            if keyed_from is not None:
                findings.append(
                    Finding(
                        f"{where}: unkeyed row after keyed row {keyed_from} (forged)", entry.id
                    )
                )
            elif checkpoints and walk.count >= walk.pinned:
                findings.append(
                    Finding(f"{where}: unkeyed row that no checkpoint covers (forged)", entry.id)
                )
            elif expected != entry.hash:
                findings.append(Finding(f"{where}: content does not match its hash", entry.id))
        else:
            keyed_from = keyed_from or entry.id
            key = keyring.get(entry.key_id)
            if key is None:
                findings.append(
                    Finding(
                        f"{where}: chained with audit key {entry.key_id}, which is not loaded",
                        entry.id,
                    )
                )
            elif entry.stripe is None or entry.hash != _chain_hash(
                key,
                entry.stripe,
                entry.prev_hash,
                entry.at,
                entry.actor,
                entry.event,
                entry.case_code,
                entry.detail,
            ):
                findings.append(
                    Finding(
                        f"{where}: content does not match its keyed hash (edited, or "
                        "written without the audit key)",
                        entry.id,
                    )
                )
        walk.prev, walk.last_id = entry.hash, entry.id
        walk.count += 1
        recorded = walk.marks.pop(walk.count, None)
        if recorded is not None and recorded[0] != entry.hash:
            findings.append(
                Finding(
                    f"{where}: is not the row the checkpoint of {recorded[1].label} recorded "
                    f"as number {walk.count} of stripe {entry.stripe}",
                    entry.id,
                )
            )
    # Emptied: no rows, and the heads gone or set back to empty (as the migration makes them).
    emptied = not any(h.count for h in heads.values())
    if rows == 0 and emptied and any(c.entries for c in checkpoints):
        newest = max(checkpoints, key=lambda c: c.entries)
        findings.append(
            Finding(
                f"the audit log is empty, but the checkpoint of {newest.label} recorded "
                f"{newest.entries} rows (rows and heads deleted)"
            )
        )
        return AuditReport(0, tuple(findings))
    for stripe, head in sorted(heads.items()):
        walk = walks.get(stripe) or _Walk()
        if (head.last_hash, head.count) != (walk.prev, walk.count) or (
            head.count and head.last_id != walk.last_id
        ):
            findings.append(
                Finding(
                    f"stripe {stripe}: its head says {head.count} rows ending at row "
                    f"{head.last_id}, the log has {walk.count} ending at row {walk.last_id} "
                    "(rows deleted at the end, or the head edited)",
                    head.last_id or None,
                )
            )
    for walked, walk in sorted(walks.items(), key=lambda item: item[0] or 0):
        if walk.count and walked not in heads:
            findings.append(
                Finding(
                    f"stripe {walked}: {walk.count} rows but no head (forged, or its head deleted)"
                )
            )
        for count, (_hash, checkpoint) in sorted(walk.marks.items()):
            if walked not in heads and not walk.count:
                findings.append(
                    Finding(
                        f"stripe {walked}: missing, the checkpoint of {checkpoint.label} "
                        f"recorded {count} rows in it (stripe dropped)"
                    )
                )
            else:
                findings.append(
                    Finding(
                        f"stripe {walked}: {walk.count} rows, the checkpoint of "
                        f"{checkpoint.label} recorded {count} (newest rows deleted)"
                    )
                )
            break  # the lowest mark missed says it; the later ones follow from it
    # Stripes in use: every head exists from the migration on, most of them still empty.
    return AuditReport(rows, tuple(findings), legacy, sum(1 for h in heads.values() if h.count))
