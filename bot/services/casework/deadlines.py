"""Deadlines are data: each case carries the moment it next needs attention.

Two waits can be running on a case, one at a time:

- *taking*: an open case waits for a psychologist to take it, from `created_at`; the
  deadline depends on the priority (urgent 5 minutes, high 1 hour, normal 24 hours) and
  repeats every such period until the case is taken;
- *answering*: a claimed case whose student wrote (`awaiting_since`) waits for an answer,
  counted from when the student wrote or when the psychologist took the case, whichever is
  later (so taking an old case does not earn an instant reminder). After 24 hours the
  psychologist is reminded, after 48 hours the supervisors hear of it, then again every
  24 hours.

`schedule()` is called after any change to a case; the deadline worker
(`bot.services.routing.escalation`) acts when `next_deadline_at` has passed. `schedule()` never
postpones a deadline that is already running: a student who keeps writing does not push
their own escalation back, and a psychologist who gives an unanswered case back to the pool
does not restart the student's wait (the case then escalates as untaken when that deadline
comes, or after a full take period, whichever is sooner).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.config import Settings
from bot.db.models import Case
from bot.domain import CaseStatus, Priority


def take_deadline(case: Case, settings: Settings) -> timedelta:
    """How long an open case of this priority may wait to be taken (and the repeat period)."""
    if case.priority == Priority.URGENT:
        return timedelta(minutes=settings.urgent_take_minutes)
    if case.priority == Priority.HIGH:
        return timedelta(hours=settings.high_take_hours)
    return timedelta(hours=settings.normal_take_hours)


def answer_anchor(case: Case) -> datetime | None:
    """Since when the student of a claimed case has been waiting for this psychologist."""
    if case.awaiting_since is None:
        return None
    if case.claimed_at is not None and case.claimed_at > case.awaiting_since:
        return case.claimed_at
    return case.awaiting_since


def remind_after(settings: Settings) -> timedelta:
    return timedelta(hours=settings.answer_remind_hours)


def escalate_after(settings: Settings) -> timedelta:
    # A configuration with escalation before the reminder escalates at the reminder's time.
    return timedelta(hours=max(settings.answer_escalate_hours, settings.answer_remind_hours))


def first_answer_deadline(case: Case, settings: Settings) -> datetime | None:
    anchor = answer_anchor(case)
    return None if anchor is None else anchor + remind_after(settings)


def schedule(case: Case, settings: Settings, now: datetime) -> None:
    """Recompute `next_deadline_at` (and reset `escalation_level` when a wait ends)."""
    if case.status == CaseStatus.OPEN:
        period = take_deadline(case, settings)
        # A case that became urgent late gets a full period from now rather than an
        # instant alert whose headline would not be true.
        candidate = max(case.created_at + period, now + period)
        current = case.next_deadline_at
        case.next_deadline_at = candidate if current is None else min(current, candidate)
        return
    if case.status == CaseStatus.CLAIMED:
        first = first_answer_deadline(case, settings)
        if first is None:  # answered: nobody is waiting
            case.next_deadline_at = None
            case.escalation_level = 0
            return
        current = case.next_deadline_at
        if current is None or current < first:
            # A new wait (the student wrote after an answer, or the case was just taken):
            # a deadline left over from the taking wait does not belong to it.
            case.next_deadline_at = first
            case.escalation_level = 0
        return
    case.next_deadline_at = None
