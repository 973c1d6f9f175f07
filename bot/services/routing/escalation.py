"""The deadline worker's step: act on every case whose `next_deadline_at` has passed.

Rules (defaults from Settings, see `bot.services.casework.deadlines`):

- urgent, not taken for 5 minutes: the whole pool again (card with a Take button) and the
  case's supervisors; again every 5 minutes until taken;
- high not taken for 1 hour, normal for 24 hours: the case's supervisors; again every such
  period until taken;
- claimed, the student waiting for an answer for 24 hours: the psychologist is reminded;
  48 hours: the supervisors, then again every 24 hours until answered.

The pool and the case's supervisors (its region's and district's, else its country's, else
all) come from bot.services.routing.pool_policy, the one definition of a case's pool.

Supervisors may not read content: what they get is the case card (code, priority, category,
district, school, waiting time) under a headline saying why. Psychologists get the same card
with the lexicon's signals, never what the student wrote (bot.services.casework.notify): the
words go only to whoever takes the case. A re-alert of an open case is a card like the
pool's first one, edited to "taken" once someone takes it.

Every step counts a deadline breach; steps that reach beyond the psychologist (the pool's
re-alert, supervisors) also count an escalation. Each step is audited and its messages are
outbox rows in the same transaction, so a rolled-back step sends nothing.

Several instances may run the worker on one PostgreSQL database: due cases are claimed with
`FOR UPDATE SKIP LOCKED`, and a step moves `next_deadline_at` forward in the same
transaction, so each step is taken once. SQLite serialises writers (`BEGIN IMMEDIATE`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Case, Member
from bot.delivery import notices
from bot.delivery.notices import Joined, Notice, Text
from bot.domain import CaseStatus, Priority, Role
from bot.services.casework import deadlines
from bot.services.casework.notify import case_card, signals, take_buttons, waiting
from bot.services.routing import pool_policy
from bot.services.runtime import Runtime
from bot.services.security import audit

log = logging.getLogger(__name__)

BATCH = 100

EVENT_URGENT_UNTAKEN = "escalated_urgent_untaken"
EVENT_UNTAKEN = "escalated_untaken"
EVENT_REMINDED = "reminded_unanswered"
EVENT_UNANSWERED = "escalated_unanswered"


@dataclass(frozen=True, slots=True)
class Step:
    """One action the worker took on one case (for logs and tests)."""

    case_code: str
    event: str
    level: int
    recipients: int


def _headline(event: str, waited: timedelta) -> Text:
    wait = waiting(waited)
    if event == EVENT_URGENT_UNTAKEN:
        return Text("🚨 Urgent case not taken for {wait}", wait=wait)
    if event == EVENT_UNTAKEN:
        return Text("⏰ Case not taken for {wait}", wait=wait)
    if event == EVENT_REMINDED:
        return Text("⏰ The student has been waiting for your answer for {wait}", wait=wait)
    return Text("⚠️ No answer to the student for {wait}", wait=wait)


async def _send_cards(
    session: AsyncSession,
    rt: Runtime,
    case: Case,
    members: list[Member],
    *,
    event: str,
    waited: timedelta,
    now: datetime,
) -> None:
    """The card under a headline saying why (never the student's words). Psychologists see
    the signals, may reply to it (relay routing) and, while the case is open, take it;
    supervisors get the bare card. While the case is open the cards are marked, to be
    edited to "taken" (bot.services.casework.notify.cards_taken)."""
    if not members:
        return
    headline = _headline(event, waited)
    bare = Joined((headline, await case_card(session, case, now)))
    found = signals(rt, case)
    with_signals = Joined((headline, await case_card(session, case, now, found=found)))
    is_open = case.status == CaseStatus.OPEN
    takeable = take_buttons(case.code) if is_open else ()
    card_case_id = case.id if is_open else None
    notices.send(
        session,
        rt,
        [
            Notice(
                member,
                with_signals,
                buttons=takeable,
                relay_case_id=case.id,
                protect_content=True,
                card_case_id=card_case_id,
            )
            if member.role == Role.PSYCHOLOGIST
            else Notice(member, bare, protect_content=True, card_case_id=card_case_id)
            for member in members
        ],
        now=now,
    )


def _unique(*groups: list[Member]) -> list[Member]:
    seen: dict[int, Member] = {}
    for group in groups:
        for member in group:
            seen.setdefault(member.id, member)
    return list(seen.values())


async def _alert_untaken(session: AsyncSession, rt: Runtime, case: Case, now: datetime) -> Step:
    """An open case passed its take deadline."""
    urgent = case.priority == Priority.URGENT
    event = EVENT_URGENT_UNTAKEN if urgent else EVENT_UNTAKEN
    supervisors = await pool_policy.escalation_supervisors(session, case)
    # Urgent: the whole pool again (bot.services.routing.pool_policy: the case's psychologists, or
    # the supervisors when none is active anywhere), and the case's supervisors.
    pool = await pool_policy.notified_members(session, case) if urgent else []
    recipients = _unique(pool, supervisors)
    await _send_cards(
        session, rt, case, recipients, event=event, waited=now - case.created_at, now=now
    )
    case.escalations += 1
    return Step(case.code, event, case.escalation_level + 1, len(recipients))


async def _remind_or_escalate_unanswered(
    session: AsyncSession,
    rt: Runtime,
    case: Case,
    now: datetime,
    anchor: datetime,
    escalate: bool,
) -> Step:
    """A claimed case's student has waited past the reminder or the escalation deadline."""
    waited = now - anchor
    psychologist = (
        await session.get(Member, case.psychologist_id) if case.psychologist_id else None
    )
    if psychologist is not None and not psychologist.active:
        psychologist = None
    # Nobody active holds the case: a reminder would reach no one, so escalate at once.
    escalate = escalate or psychologist is None
    recipients = 0
    if psychologist is not None and (not escalate or case.escalation_level == 0):
        # The reminder goes with the first escalation too, if the worker was down when the
        # reminder was due. Replies to it reach the student (relay routing).
        await _send_cards(
            session, rt, case, [psychologist], event=EVENT_REMINDED, waited=waited, now=now
        )
        recipients += 1
    if not escalate:
        return Step(case.code, EVENT_REMINDED, case.escalation_level + 1, recipients)
    supervisors = await pool_policy.escalation_supervisors(session, case)
    await _send_cards(
        session, rt, case, supervisors, event=EVENT_UNANSWERED, waited=waited, now=now
    )
    case.escalations += 1
    level = max(case.escalation_level + 1, 2)
    return Step(case.code, EVENT_UNANSWERED, level, recipients + len(supervisors))


def _next_after(due: datetime, period: timedelta, now: datetime) -> datetime:
    """The next repeat; after downtime the worker sends one catch-up step, not a burst."""
    following = due + period
    return following if following > now else now + period


async def _step(session: AsyncSession, rt: Runtime, case: Case, now: datetime) -> Step | None:
    settings = rt.settings
    due = case.next_deadline_at
    assert due is not None
    if case.status == CaseStatus.OPEN:
        period = deadlines.take_deadline(case, settings)
        if now < case.created_at + period:  # a deadline set too early: put it right
            case.next_deadline_at = case.created_at + period
            return None
        step = await _alert_untaken(session, rt, case, now)
        case.next_deadline_at = _next_after(due, period, now)
    else:
        anchor = deadlines.answer_anchor(case)
        if anchor is None:  # answered meanwhile; whoever answered forgot to reschedule
            case.next_deadline_at = None
            case.escalation_level = 0
            return None
        remind_at = anchor + deadlines.remind_after(settings)
        escalate_at = anchor + deadlines.escalate_after(settings)
        if now < remind_at:  # left over from the taking wait or an earlier answer
            case.next_deadline_at = remind_at
            case.escalation_level = 0
            return None
        escalate = now >= escalate_at
        step = await _remind_or_escalate_unanswered(session, rt, case, now, anchor, escalate)
        if step.event == EVENT_UNANSWERED:
            repeat = deadlines.remind_after(settings)
            case.next_deadline_at = _next_after(max(due, escalate_at), repeat, now)
        else:
            case.next_deadline_at = escalate_at
    case.escalation_level = step.level
    case.deadline_breaches += 1
    await audit.record(
        session,
        actor="system",
        event=step.event,
        now=now,
        case_code=case.code,
        detail={"level": step.level, "priority": case.priority, "recipients": step.recipients},
    )
    log.info(
        "deadline_step case=%s event=%s level=%s recipients=%s",
        case.code,
        step.event,
        step.level,
        step.recipients,
    )
    if step.recipients == 0:
        log.warning("deadline_step_nobody_to_tell case=%s event=%s", case.code, step.event)
    return step


async def run_due(session: AsyncSession, rt: Runtime, *, limit: int = BATCH) -> list[Step]:
    """Act on up to `limit` cases whose deadline has passed, in the caller's transaction.

    Returns the steps taken (a case whose deadline turned out stale is rescheduled silently).
    """
    now = rt.now()
    query = (
        select(Case)
        .where(
            Case.status.in_((CaseStatus.OPEN, CaseStatus.CLAIMED)),
            Case.next_deadline_at.is_not(None),
            Case.next_deadline_at <= now,
        )
        .order_by(Case.next_deadline_at)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        # Another instance working on a case skips it rather than sending its step twice.
        # NO KEY UPDATE (we change no key) does not conflict with the KEY SHARE locks that
        # inserting an outbox row, message or relay of the case takes, so a busy case is
        # not skipped for that; two workers still exclude each other.
        query = query.with_for_update(skip_locked=True, key_share=True)
    steps: list[Step] = []
    for case in (await session.scalars(query)).all():
        step = await _step(session, rt, case, now)
        if step is not None:
            steps.append(step)
    return steps
