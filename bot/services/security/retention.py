"""Retention: closed cases are crypto-shredded after `retention_days`, and what is kept only
to make delivery safe is forgotten after a few days.

Shredding destroys the case's wrapped data key and, for good measure, every ciphertext
of the case too (message bodies and file ids, notes, the closing note, signals, the
student's chat id, pending outbox payloads): with the key gone they could never be opened,
and without them a leaked backup of the key changes nothing. What stays is what statistics
need and nothing that could be read: the case row's category, priority, place, outcome and
dates, and each message's kind, author and time. The link to the student's pseudonym is
cut as well.

The sealed copy of a dead letter nobody retried is erased after
`deadletters.SEALED_COPY_DAYS`: it holds a child's message outside any case.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import Case, CaseMessage, Member, OutboxMessage, ProcessedUpdate, Relay, Student
from bot.domain import CaseStatus
from bot.services import deadletters
from bot.services.runtime import Runtime
from bot.services.security import audit

log = logging.getLogger(__name__)

# Telegram redelivers an update for at most a day; three leave room for a long outage.
UPDATE_MEMORY = timedelta(days=3)
# Delivered outbox rows carry no payload, only who was written to and when: a week is
# enough to look into a delivery problem.
FINISHED_OUTBOX_MEMORY = timedelta(days=7)
BATCH = 200
RETENTION_CHECK_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class RetentionReport:
    cases_shredded: int = 0
    updates_forgotten: int = 0
    outbox_rows_purged: int = 0
    dead_letter_copies_erased: int = 0


async def shred_case(session: AsyncSession, rt: Runtime, case: Case) -> None:
    """Destroy a case's key and content in this transaction; the counts stay."""
    now = rt.now()
    case.wrapped_key = None
    case.kek_id = None
    case.chat_id_enc = None
    case.signals_enc = None
    case.closing_note_enc = None
    case.student_id = None
    case.shredded_at = now
    await session.execute(
        update(CaseMessage)
        .where(CaseMessage.case_id == case.id)
        .values(body_enc=None, file_id_enc=None, source_message_id=None)
        .execution_options(synchronize_session=False)
    )
    about_case = or_(OutboxMessage.case_id == case.id, OutboxMessage.relay_case_id == case.id)
    await session.execute(
        update(OutboxMessage)
        .where(about_case, OutboxMessage.status.in_(("pending", "sending")))
        .values(status="dropped", error="shredded", lease_until=None)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(OutboxMessage)
        .where(about_case)
        .values(payload_enc=b"")
        .execution_options(synchronize_session=False)
    )
    await session.execute(delete(Relay).where(Relay.case_id == case.id))
    for model in (Member, Student):
        await session.execute(
            update(model)
            .where(model.active_case_id == case.id)
            .values(active_case_id=None)
            .execution_options(synchronize_session=False)
        )
    await audit.record(
        session, actor="system", event="case_shredded", now=now, case_code=case.code
    )


async def shred_expired_cases(
    session: AsyncSession, rt: Runtime, *, limit: int = BATCH
) -> list[str]:
    """Shred up to `limit` cases closed more than `retention_days` ago; their codes."""
    cutoff = rt.now() - timedelta(days=rt.settings.retention_days)
    query = (
        select(Case)
        .where(
            Case.status == CaseStatus.CLOSED, Case.closed_at < cutoff, Case.shredded_at.is_(None)
        )
        .order_by(Case.closed_at)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)  # another instance takes the rest
    found = list((await session.scalars(query)).all())
    for case in found:
        await shred_case(session, rt, case)
    return [case.code for case in found]


async def forget_processed_updates(session: AsyncSession, now: datetime) -> int:
    result = await session.execute(
        delete(ProcessedUpdate).where(ProcessedUpdate.at < now - UPDATE_MEMORY)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def purge_finished_outbox(session: AsyncSession, now: datetime) -> int:
    result = await session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.status.not_in(("pending", "sending")),
            OutboxMessage.sent_at < now - FINISHED_OUTBOX_MEMORY,
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def run_retention(
    sessionmaker: async_sessionmaker[AsyncSession], rt: Runtime
) -> RetentionReport:
    """One full pass, in short transactions of at most BATCH cases each."""
    shredded = 0
    while True:
        async with sessionmaker() as session, session.begin():
            codes = await shred_expired_cases(session, rt)
        for code in codes:
            log.info("case_shredded case=%s", code)
        shredded += len(codes)
        if len(codes) < BATCH:
            break
    async with sessionmaker() as session, session.begin():
        now = rt.now()
        forgotten = await forget_processed_updates(session, now)
        purged = await purge_finished_outbox(session, now)
        erased = await deadletters.erase_old_copies(session, now)
    return RetentionReport(shredded, forgotten, purged, erased)


async def retention_worker(
    sessionmaker: async_sessionmaker[AsyncSession],
    rt: Runtime,
    *,
    every: float = RETENTION_CHECK_SECONDS,
) -> None:
    """Inside `trustline run`: one pass now, then every `every` seconds, until cancelled."""
    while True:
        try:
            report = await run_retention(sessionmaker, rt)
            if report.cases_shredded:
                log.info("retention_pass shredded=%s", report.cases_shredded)
        except asyncio.CancelledError:
            raise
        except Exception:  # a database hiccup must not stop retention for good
            log.exception("retention_pass_failed")
        await asyncio.sleep(every)
