"""Retention: closed cases are crypto-shredded after `retention_days`, and what is kept only
to make delivery safe is forgotten after a few days.

Shredding destroys the case's wrapped data key and, for good measure, every ciphertext
of the case too (message bodies and file ids, notes, the closing note, signals, the
student's chat id, pending outbox payloads): with the key gone they could never be opened,
and without them a leaked backup of the key changes nothing. What stays is what statistics
need and nothing that could be read: the case row's category, priority, place, outcome and
dates, and each message's kind, author and time. The link to the student's pseudonym is
cut as well.

Erasing rows is not enough: PostgreSQL keeps the old row versions in its files until they
are vacuumed, and any backup taken before keeps them for good. So a case's data key is also
wrapped by the key of a retention period (a calendar month, UTC; `bot.crypto.periods`), kept
beside the master key and never in the database, and each pass:

1. shreds what is past retention (above);
2. settles keys (`settle_periods`): a case's key belongs under the period it was closed in,
   or, while it is open, the current one, so open cases move to the new month's key once a
   month, closed ones to their closing month's key, and rows from before migration 0016
   (wrapped by the master key alone) get a period;
3. destroys the key of every period that no unshredded case is under any more and that
   ended at least `retention_days` ago (`destroy_spent_periods`; the sealed copies of dead
   letters are under period keys too, and live a shorter while): every case that was ever
   under it is shredded, or lives on under a later key. From then on no dump of the database
   or copy of the file taken before, opened with every key that is left, gives those cases
   back. The wait after the month's end keeps a recent backup restorable for cases that
   were still open when it was taken.

The copies of a shredded case's messages that the bot put into staff chats are deleted
where Telegram still allows it (sent under 48 hours ago): `delete_staff_copies` queues a
deleteMessage for each. Older copies stay in those chats (sent with protect_content, so
they cannot be forwarded or saved), which the README says.

The sealed copy of a dead letter nobody retried is erased after
`deadletters.SEALED_COPY_DAYS`: it holds a child's message outside any case.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.crypto import DecryptionError, period_of
from bot.crypto.periods import period_end
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
# Telegram lets a bot delete a message for 48 hours after it was sent; an hour is left for
# the deleteMessage to wait its turn in the outbox.
DELETABLE_FOR = timedelta(hours=47)


@dataclass(frozen=True, slots=True)
class RetentionReport:
    cases_shredded: int = 0
    updates_forgotten: int = 0
    outbox_rows_purged: int = 0
    dead_letter_copies_erased: int = 0
    keys_settled: int = 0
    period_keys_destroyed: tuple[str, ...] = ()


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
    await delete_staff_copies(session, rt, [case.id])
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


async def delete_staff_copies(
    session: AsyncSession, rt: Runtime, case_ids: list[int], *, cards: bool = True
) -> int:
    """Queue a deleteMessage for every message about these cases that the bot put into a
    staff chat less than DELETABLE_FOR ago: relays of the case (the student's words, sent
    to whoever holds it) and, with `cards`, the pool's cards; how many. The rows name no
    case, and a refusal (the copy is already gone) is only counted by the sender. /forget
    passes cards=False: the case lives on in its pool, only the student's words go."""
    if not case_ids:
        return 0
    from bot.delivery import outbox  # noqa: PLC0415 - outbox → vault → security

    now = rt.now()
    about: ColumnElement[bool] = OutboxMessage.relay_case_id.in_(case_ids)
    if cards:
        about = or_(about, OutboxMessage.card_case_id.in_(case_ids))
    found = (
        await session.execute(
            select(OutboxMessage.member_id, OutboxMessage.message_id)
            .where(
                about,
                OutboxMessage.member_id.is_not(None),
                OutboxMessage.message_id.is_not(None),
                OutboxMessage.status == "sent",
                OutboxMessage.sent_at >= now - DELETABLE_FOR,
            )
            .order_by(OutboxMessage.sent_at)
        )
    ).all()
    queued = 0
    for member_id, message_id in found:
        member = await session.get(Member, member_id)
        if member is None or not member.active or message_id is None:
            continue
        outbox.enqueue(
            session, rt.vault, member, "deleteMessage", {"message_id": message_id}, now=now
        )
        queued += 1
    return queued


@dataclass(frozen=True, slots=True)
class Settled:
    moved: int
    # The id to go on after, or None when no case is left to look at.
    after: int | None


async def settle_periods(
    session: AsyncSession, rt: Runtime, *, after: int = 0, limit: int = BATCH
) -> Settled:
    """Rewrap the keys of (at most `limit`) cases after id `after` that are not under the
    period they belong to: a closed case's is its closing month, an open case's the current
    month; rows from before migration 0016 have none. Closed cases past retention are left
    to shredding. Each rewrap is conditional on the bytes read, so a case shredded or
    rewrapped meanwhile by another process is left as that process left it. A key that does
    not open is logged with the case code and passed over: it never stops the pass."""
    now = rt.now()
    current = period_of(now)
    cutoff = now - timedelta(days=rt.settings.retention_days)
    periods = (
        await session.scalars(
            select(Case.key_period)
            .where(Case.wrapped_key.is_not(None), Case.key_period < current)
            .distinct()
        )
    ).all()
    misplaced = or_(
        Case.key_period.is_(None),
        *(
            (Case.key_period == period)
            & or_(Case.status != CaseStatus.CLOSED, Case.closed_at >= period_end(period))
            for period in periods
            if period is not None
        ),
    )
    found = (
        await session.scalars(
            select(Case)
            .where(
                Case.id > after,
                Case.wrapped_key.is_not(None),
                or_(Case.status != CaseStatus.CLOSED, Case.closed_at >= cutoff),
                misplaced,
            )
            .order_by(Case.id)
            .limit(limit)
        )
    ).all()
    moved = 0
    for case in found:
        assert case.wrapped_key is not None
        closed = case.closed_at if case.status == CaseStatus.CLOSED else None
        target = period_of(closed) if closed is not None else current
        try:
            secret = rt.vault.case_key(case).secret
        except DecryptionError as exc:
            log.error("case_key_unreadable case=%s error=%s", case.code, type(exc).__name__)
            continue
        wrapped, kek_id = rt.vault.wrap_case_secret(case.code, secret, target)
        result = await session.execute(
            update(Case)
            .where(Case.id == case.id, Case.wrapped_key == case.wrapped_key)
            .values(wrapped_key=wrapped, kek_id=kek_id, key_period=target)
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0) == 1:
            moved += 1
    ids = [case.id for case in found]
    for case in found:
        session.expire(case)
    return Settled(moved, ids[-1] if len(ids) == limit else None)


async def destroy_spent_periods(session: AsyncSession, rt: Runtime) -> list[str]:
    """Destroy the key of every period no unshredded case is under and that ended at least
    `retention_days` ago; the periods destroyed by this call (audited in this transaction).
    Several processes may run it at once: the key file is destroyed by exactly one."""
    now = rt.now()
    # A dead letter's sealed copy (under the key of the month it was set aside in) lives
    # SEALED_COPY_DAYS: a retention shorter than that must not take its key first.
    kept_days = max(rt.settings.retention_days, deadletters.SEALED_COPY_DAYS)
    keep_after = now - timedelta(days=kept_days)
    periods = rt.vault.periods
    periods.sweep()
    destroyed: list[str] = []
    for period in periods.periods():
        if period_end(period) > keep_after:
            continue  # the month is recent: a backup of it must still open its open cases
        in_use = await session.scalar(
            select(Case.id)
            .where(Case.key_period == period, Case.wrapped_key.is_not(None))
            .limit(1)
        )
        if in_use is not None:
            continue
        if periods.destroy(period):
            destroyed.append(period)
            await audit.record(
                session,
                actor="system",
                event="period_key_destroyed",
                now=now,
                detail={"period": period},
            )
    if destroyed:
        rt.vault.forget_cached_keys()
    return destroyed


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
    if shredded:
        rt.vault.forget_cached_keys()  # no data key of a shredded case stays in memory
    settled, after = 0, 0
    while True:
        async with sessionmaker() as session, session.begin():
            step = await settle_periods(session, rt, after=after)
        settled += step.moved
        if step.after is None:
            break
        after = step.after
    async with sessionmaker() as session, session.begin():
        destroyed = await destroy_spent_periods(session, rt)
    for period in destroyed:
        log.info("period_key_destroyed period=%s", period)
    async with sessionmaker() as session, session.begin():
        now = rt.now()
        forgotten = await forget_processed_updates(session, now)
        purged = await purge_finished_outbox(session, now)
        erased = await deadletters.erase_old_copies(session, now)
    return RetentionReport(shredded, forgotten, purged, erased, settled, tuple(destroyed))


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
