"""The lean path of the most frequent update: a known student's plain text on their open case.

Why it is shaped so. Nearly every update the line gets is a student writing one more line in
a conversation that is already open. Through the ORM path (handlers/student.py,
`cases.submit_student_message`) that update costs 11 statements between BEGIN and COMMIT:
the update id, the member and the student looked up, the case locked, the holder loaded,
the message, each outbox row, the audit head locked and its row and the head written,
each its own round trip, and the ORM's unit of work around each (about 0.3 ms per
statement over the driver, issue 17). Encryption, the pseudonym, triage and the audit HMAC
together are about 0.13 ms: the cost is round trips and the ORM, not the work. Measured
side by side in one run (benchmarks/student_path.py, PostgreSQL on the same machine): 11
statements and 19.4 ms of the bot's CPU per message through the ORM, 2 statements and 5.3
ms here (the whole update: aiogram, the session, the pool; the machine was loaded, so the
ratio holds better than the milliseconds). So here:

- **One read** (`_read`): the update id already seen?, a member with this pseudonym?, the
  student, their active case locked `FOR UPDATE` (as `cases.active_case` locks it), the
  psychologist holding it, and the first free audit head (`FOR UPDATE SKIP LOCKED`, as
  bot.services.security.audit takes one at commit).
- **Everything else in Python**, with the same functions the ORM path uses, on transient
  (never added) model objects: `flood.admit`, `cases._raise_priority`, `deadlines.schedule`,
  the sealing (`Vault`, `outbox.seal_payload`), the notices (`notify.relay_notice`,
  `cases.received`, `notices.calls`), the audit row's keyed hash. So the rules live in one
  place and both paths follow them.
- **One write** (`_write_postgresql`): a statement of data-modifying CTEs that inserts the
  update id (`ON CONFLICT DO NOTHING`) and, only if that inserted a row, updates the flood
  counters and the case, inserts the sealed message, the outbox rows and the audit row and
  moves the audit head. A redelivered update racing this one inserts nothing at all.
  SQLite has no data-modifying CTEs: there the same Core statements run one after the
  other in the same transaction (`_write_sqlite`: seven short statements on a local file,
  whose writers are serialised from BEGIN IMMEDIATE anyway), so a message there is the read
  and seven writes instead of the ORM path's eleven statements.

Statements are built once per shape (`functools.cache`) with bound parameters, so
SQLAlchemy's compiled cache and asyncpg's prepared statements are hit on every message.
Nothing is acknowledged before it is committed: the student's "Received ✓" and the relay
are outbox rows of this transaction, sent after commit like everything else.

What it takes, and what it hands over. A private plain text (no command, no 🆘, no file)
from someone who is not a member, whose student row has a language and whose active case
is open or taken, still linked to their chat, with an audit head free. The triage must read
it as ordinary: anything urgent or high, or with the weak hints that make the bot ask "are
you in danger right now?", and any message over the per-minute flood limit, is handed over
(`Outcome.HANDOVER`) before anything is written: the caller then runs the ORM path
(handlers/student.py → `cases.submit_student_message`) in the same transaction, which
alerts, asks and answers as it always has. A new student and a first message are handed
over too, after the read (one statement more for them, and the audit head the read locked
stays with the transaction, which the ORM path's audit then extends); commands, files and
every update that is not a private text never come here
(bot.middlewares.lean_candidate).
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from enum import Enum
from functools import cache
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Insert,
    Select,
    Table,
    Update,
    bindparam,
    func,
    insert,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bot.db.models import (
    AuditEntry,
    AuditHead,
    Case,
    CaseMessage,
    Member,
    OutboxMessage,
    ProcessedUpdate,
    Student,
)
from bot.delivery import notices, outbox
from bot.domain import Author, CaseStatus, ContentKind, Priority
from bot.services.casework import cases, deadlines, flood, notify, safety
from bot.services.casework.cases import IncomingContent
from bot.services.runtime import Runtime
from bot.services.security import audit
from bot.triage import assess

log = logging.getLogger(__name__)


class Outcome(Enum):
    DONE = "done"  # written; commit, then wake the outbox sender
    DUPLICATE = "duplicate"  # the update id was seen before: nothing written
    HANDOVER = "handover"  # not the lean case: nothing written, run the ORM path


@dataclass(frozen=True, slots=True)
class StudentText:
    """One private plain-text message, as plain values (no aiogram here)."""

    update_id: int
    user_id: int
    chat_id: int
    message_id: int
    text: str


def _table(model: type[Any]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


STUDENTS = _table(Student)
CASES = _table(Case)
MEMBERS = _table(Member)
HEADS = _table(AuditHead)
PROCESSED = _table(ProcessedUpdate)
MESSAGES = _table(CaseMessage)
OUTBOX = _table(OutboxMessage)
AUDIT = _table(AuditEntry)

STUDENT_COLUMNS = (
    "id",
    "language",
    "active_case_id",
    "window_start",
    "window_count",
    "day_start",
    "day_cases",
)
CASE_COLUMNS = (
    "id",
    "code",
    "language",
    "status",
    "priority",
    "priority_rank",
    "category",
    "psychologist_id",
    "wrapped_key",
    "kek_id",
    "key_period",
    "chat_id_enc",
    "signals_enc",
    "muted",
    "created_at",
    "claimed_at",
    "awaiting_since",
    "next_deadline_at",
    "escalation_level",
)
HOLDER_COLUMNS = ("id", "active", "language", "pseudonym", "wrapped_key", "kek_id")
HEAD_COLUMNS = ("id", "last_id", "last_hash", "count")

# What the write sets, from values computed in Python (the case row is locked by the read).
STUDENT_SET = ("window_start", "window_count", "day_start", "day_cases")
CASE_SET = (
    "unreachable",
    "priority",
    "priority_rank",
    "category",
    "signals_enc",
    "last_student_at",
    "awaiting_since",
    "next_deadline_at",
    "escalation_level",
)
MESSAGE_COLUMNS = (
    "id",
    "case_id",
    "author",
    "kind",
    "body_enc",
    "source_message_id",
    "created_at",
)
OUTBOX_COLUMNS = (
    "id",
    "created_at",
    "not_before",
    "status",
    "method",
    "attempts",
    "relay_case_id",
    "case_id",
    "member_id",
    "payload_enc",
)
AUDIT_COLUMNS = (
    "at",
    "actor",
    "event",
    "case_code",
    "detail",
    "prev_hash",
    "hash",
    "stripe",
    "key_id",
)


@cache
def _read() -> Select[Any]:
    """The one read: see the module's docstring. No row when the student is unknown."""
    student: BindParameter[bytes] = bindparam("student")
    active = select(STUDENTS.c.active_case_id).where(STUDENTS.c.pseudonym == student)
    case = (
        select(*(CASES.c[n] for n in CASE_COLUMNS))
        .where(CASES.c.id == active.scalar_subquery())
        .with_for_update()
        .subquery("c")
    )
    holder = MEMBERS.alias("holder")
    head = (
        select(*(HEADS.c[n] for n in HEAD_COLUMNS))
        .order_by(HEADS.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .subquery("h")
    )
    seen = select(PROCESSED.c.update_id).where(PROCESSED.c.update_id == bindparam("p_update_id"))
    member = select(MEMBERS.c.id).where(MEMBERS.c.pseudonym == bindparam("member"))
    return (
        select(
            seen.exists().label("seen"),
            member.exists().label("is_member"),
            *(STUDENTS.c[n].label(f"s_{n}") for n in STUDENT_COLUMNS),
            *(case.c[n].label(f"c_{n}") for n in CASE_COLUMNS),
            *(holder.c[n].label(f"m_{n}") for n in HOLDER_COLUMNS),
            *(head.c[n].label(f"h_{n}") for n in HEAD_COLUMNS),
        )
        .select_from(
            STUDENTS.outerjoin(case, case.c.id == STUDENTS.c.active_case_id)
            .outerjoin(holder, holder.c.id == case.c.psychologist_id)
            .outerjoin(head, true())
        )
        .where(STUDENTS.c.pseudonym == student)
    )


def _values(table: Table, columns: tuple[str, ...], prefix: str = "") -> list[Any]:
    """Bound parameters typed as `table`'s columns (a SELECT of parameters needs the
    types: asyncpg casts each one)."""
    return [bindparam(f"{prefix}{n}", type_=table.c[n].type) for n in columns]


def _student_update() -> Update:
    return (
        update(STUDENTS)
        .where(STUDENTS.c.id == bindparam("p_student_id"))
        .values({n: bindparam(f"s_{n}") for n in STUDENT_SET})
    )


def _case_update() -> Update:
    return (
        update(CASES)
        .where(CASES.c.id == bindparam("p_case_id"))
        .values(
            {
                **{n: bindparam(f"c_{n}") for n in CASE_SET},
                "message_count": CASES.c.message_count + 1,
            }
        )
    )


def _head_update(last_id: Any) -> Update:
    return (
        update(HEADS)
        .where(HEADS.c.id == bindparam("p_head_id"), HEADS.c.last_hash == bindparam("p_prev_hash"))
        .values(last_id=last_id, last_hash=bindparam("a_hash"), count=HEADS.c.count + 1)
    )


@cache
def _write_postgresql(rows: int) -> Select[Any]:
    """The one write on PostgreSQL, for `rows` outbox rows: each part runs only when the
    update id was new, and the final SELECT counts what each part wrote."""
    first = (
        postgresql_insert(PROCESSED)
        .values(update_id=bindparam("p_update_id"), at=bindparam("p_now"))
        .on_conflict_do_nothing()
        .returning(PROCESSED.c.update_id)
        .cte("first_time")
    )
    new: ColumnElement[bool] = select(first.c.update_id).exists()
    student = _student_update().where(new).returning(STUDENTS.c.id).cte("student")
    case = _case_update().where(new).returning(CASES.c.id).cte("case_row")
    message = (
        insert(MESSAGES)
        .from_select(MESSAGE_COLUMNS, select(*_values(MESSAGES, MESSAGE_COLUMNS, "m_")).where(new))
        .returning(MESSAGES.c.id)
        .cte("message")
    )
    outbox_rows = (
        insert(OUTBOX)
        .from_select(
            OUTBOX_COLUMNS,
            union_all(
                *(
                    select(*_values(OUTBOX, OUTBOX_COLUMNS, f"o{i}_")).where(new)
                    for i in range(rows)
                )
            ),
        )
        .returning(OUTBOX.c.id)
        .cte("outbox_rows")
    )
    entry = (
        insert(AUDIT)
        .from_select(AUDIT_COLUMNS, select(*_values(AUDIT, AUDIT_COLUMNS, "a_")).where(new))
        .returning(AUDIT.c.id)
        .cte("entry")
    )
    head = (
        _head_update(select(entry.c.id).scalar_subquery())
        .where(select(entry.c.id).exists())
        .returning(HEADS.c.id)
        .cte("head")
    )

    def count(cte: Any) -> Any:
        return select(func.count()).select_from(cte).scalar_subquery()

    return select(
        count(first).label("first_time"),
        count(student).label("student"),
        count(case).label("case_row"),
        count(message).label("message"),
        count(outbox_rows).label("outbox_rows"),
        count(entry).label("entry"),
        count(head).label("head"),
    )


@dataclass(frozen=True)
class _SqliteWrite:
    first: Insert
    student: Update
    case: Update
    message: Insert
    outbox: Insert
    entry: Insert
    head: Update


@cache
def _write_sqlite() -> _SqliteWrite:
    """The same write as separate Core statements (SQLite has no data-modifying CTEs)."""
    return _SqliteWrite(
        first=sqlite_insert(PROCESSED)
        .values(update_id=bindparam("p_update_id"), at=bindparam("p_now"))
        .on_conflict_do_nothing()
        .returning(PROCESSED.c.update_id),
        student=_student_update(),
        case=_case_update(),
        message=insert(MESSAGES).values({n: bindparam(f"m_{n}") for n in MESSAGE_COLUMNS}),
        outbox=insert(OUTBOX).values({n: bindparam(f"o_{n}") for n in OUTBOX_COLUMNS}),
        entry=insert(AUDIT)
        .values({n: bindparam(f"a_{n}") for n in AUDIT_COLUMNS})
        .returning(AUDIT.c.id),
        head=_head_update(bindparam("audit_id")),
    )


def _columns(row: Row[Any], prefix: str, columns: tuple[str, ...]) -> dict[str, Any]:
    return {n: getattr(row, f"{prefix}{n}") for n in columns}


def _not_lean(row: Row[Any]) -> str:
    """Why the read's row is not the lean case ("" when it is)."""
    if row.is_member:
        return "member"
    if not row.s_language:
        return "no_language"
    if row.c_id is None or row.c_status not in (CaseStatus.OPEN, CaseStatus.CLAIMED):
        return "no_open_case"
    if row.c_chat_id_enc is None:
        return "chat_unlinked"  # after /forget: the ORM path links the chat again
    if row.c_wrapped_key is None:
        return "shredded"
    if row.h_id is None:
        return "no_free_audit_head"  # every one held: the ORM path waits for one
    return ""


def _handover(reason: str) -> Outcome:
    log.debug("lean_handover reason=%s", reason)
    return Outcome.HANDOVER


async def submit(session: AsyncSession, rt: Runtime, message: StudentText) -> Outcome:
    """Store and answer one student's text on their open case in one read and one write,
    or say why not (see the module's docstring). Runs inside the caller's transaction."""
    conn = await session.connection()
    pseudonyms = rt.vault.pseudonyms
    found_row = (
        await conn.execute(
            _read(),
            {
                "student": pseudonyms.student_id(message.user_id),
                "member": pseudonyms.member_id(message.user_id),
                "p_update_id": message.update_id,
            },
        )
    ).first()
    if found_row is None:
        return _handover("new_student")  # the ORM path makes their row
    if found_row.seen:
        return Outcome.DUPLICATE
    row = found_row
    reason = _not_lean(row)
    if reason:
        return _handover(reason)
    keyring = audit.keys_for(session.get_bind())
    if keyring is None:
        return _handover("no_audit_key")  # the ORM path raises AuditKeyMissing
    found = assess(message.text)
    if found.priority != Priority.NORMAL or safety.needs_question(found):
        return _handover("triage")  # alerts, the urgent reply, "are you in danger now?"
    now = rt.now()
    student = Student(**_columns(row, "s_", STUDENT_COLUMNS))
    admission = flood.admit(student, rt.settings, now)
    if admission.quiet:
        return _handover("flood")  # over the per-minute limit (bot.services.casework.flood)
    case = Case(**_columns(row, "c_", CASE_COLUMNS))
    became_urgent = cases._raise_priority(case, rt, found)
    assert not became_urgent  # an ordinary message never raises the priority
    case.unreachable = False
    case.last_student_at = now
    if case.awaiting_since is None:
        case.awaiting_since = now
    deadlines.schedule(case, rt.settings, now)

    message_id = uuid.uuid4()
    body = rt.vault.seal_for_case(case, f"msg/{message_id}", "body", message.text)
    content = IncomingContent(ContentKind.TEXT, message.text, None, message.message_id)
    said: list[notices.Notice] = []
    if (
        case.status == CaseStatus.CLAIMED
        and case.psychologist_id is not None
        and row.m_id is not None
        and row.m_active
        and not case.muted
    ):
        holder = Member(**_columns(row, "m_", HOLDER_COLUMNS))
        said.append(notify.relay_notice(case, holder, content))
    said.append(cases.received(case))
    outbox_rows: list[dict[str, Any]] = []
    for notice in said:
        for method, call in notices.calls(rt, notice):
            row_id = outbox.ordered_id()
            target = notice.to
            assert isinstance(target, Case | Member)
            outbox_rows.append(
                {
                    "id": row_id,
                    "created_at": now,
                    "not_before": now,
                    "status": "pending",
                    "method": method,
                    "attempts": 0,
                    "relay_case_id": notice.relay_case_id,
                    "case_id": target.id if isinstance(target, Case) else None,
                    "member_id": target.id if isinstance(target, Member) else None,
                    "payload_enc": outbox.seal_payload(
                        rt.vault, row_id, target, {"method": method, "params": call}
                    ),
                }
            )

    key = keyring.current
    detail = json.dumps({"kind": ContentKind.TEXT}, sort_keys=True, ensure_ascii=False)
    entry_hash = audit._chain_hash(
        key, row.h_id, row.h_last_hash, now, "student", "student_message", case.code, detail
    )
    params: dict[str, Any] = {
        "p_update_id": message.update_id,
        "p_now": now,
        "p_student_id": row.s_id,
        "p_case_id": case.id,
        "p_head_id": row.h_id,
        "p_prev_hash": row.h_last_hash,
        **{f"s_{n}": getattr(student, n) for n in STUDENT_SET},
        **{f"c_{n}": getattr(case, n) for n in CASE_SET},
        "m_id": message_id,
        "m_case_id": case.id,
        "m_author": Author.STUDENT.value,
        "m_kind": ContentKind.TEXT.value,
        "m_body_enc": body,
        "m_source_message_id": message.message_id,
        "m_created_at": now,
        "a_at": now,
        "a_actor": "student",
        "a_event": "student_message",
        "a_case_code": case.code,
        "a_detail": detail,
        "a_prev_hash": row.h_last_hash,
        "a_hash": entry_hash,
        "a_stripe": row.h_id,
        "a_key_id": key.key_id,
    }
    if conn.dialect.name == "postgresql":
        written = await _write_one_statement(conn, params, outbox_rows)
    else:
        written = await _write_statements(conn, params, outbox_rows)
    if not written:
        return Outcome.DUPLICATE
    log.info(
        "student_message case=%s opened=%s priority=%s",
        case.code,
        False,
        found.priority.value,
    )
    return Outcome.DONE


class LeanWriteFailed(RuntimeError):
    """A part of the write changed another number of rows than it must: rolled back."""


async def _write_one_statement(
    conn: AsyncConnection, params: dict[str, Any], rows: list[dict[str, Any]]
) -> bool:
    for i, row in enumerate(rows):
        params.update({f"o{i}_{n}": v for n, v in row.items()})
    counts = (await conn.execute(_write_postgresql(len(rows)), params)).one()
    if counts.first_time == 0:
        return False  # a redelivery committed meanwhile: every part was skipped
    expected = (1, 1, 1, 1, len(rows), 1, 1)
    if tuple(counts) != expected:
        raise LeanWriteFailed(f"wrote {tuple(counts)} rows, expected {expected}")
    return True


async def _write_statements(
    conn: AsyncConnection, params: dict[str, Any], rows: list[dict[str, Any]]
) -> bool:
    parts = _write_sqlite()
    if (await conn.execute(parts.first, params)).first() is None:
        return False
    for statement in (parts.student, parts.case, parts.message):
        if (await conn.execute(statement, params)).rowcount != 1:
            raise LeanWriteFailed("the student, the case or the message was not written")
    await conn.execute(parts.outbox, [{f"o_{n}": v for n, v in row.items()} for row in rows])
    audit_id = (await conn.execute(parts.entry, params)).scalar_one()
    if (await conn.execute(parts.head, {**params, "audit_id": audit_id})).rowcount != 1:
        raise LeanWriteFailed("the audit head moved under the write")
    return True


def eligible_text(text: str | None) -> bool:
    """A text the lean path may take: not a command and not the 🆘 button."""
    return bool(text) and not text.startswith("/") and not safety.is_sos(text)  # type: ignore[union-attr]
