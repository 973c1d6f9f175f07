"""Floods and abuse: limits per pseudonym, and muting a case.

What a student over a limit gets, and why:

- Over `student_messages_per_minute`, a message is still stored in the case (a child who
  sends thirty screenshots of a chat in one go is not an abuser, and nothing they write is
  dropped), but it is not relayed or announced one by one: the psychologist is told once
  per window that more arrived, and the student gets the same "Received ✓" as anyone, once
  per window. So a flood costs one row per message and leaves no backlog in the outbox that
  would hold up the psychologist's answers in that chat. A message that makes the case
  urgent, or opens a case, is always announced.
- Over `student_new_cases_per_day`, `/new` stops opening cases: the message joins the
  student's latest case that is still open. When every case of theirs has been closed by a
  psychologist, a new one opens anyway (closing is not something a student can abuse).
- A muted case keeps storing what is written and keeps acknowledging it exactly as before;
  only the relays to the psychologist stop. The student can tell neither limit nor mute
  from a normal conversation, and nothing of this reveals who writes.

Counters are a fixed window on the student row (no timestamps of messages are kept).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.db.models import Case, Member, Student
from bot.delivery import notices
from bot.delivery.notices import Notice, Text
from bot.domain import CaseStatus, Role
from bot.services.casework import cases, codes
from bot.services.errors import NotAllowed, NotFound
from bot.services.runtime import Runtime
from bot.services.security import audit

WINDOW = timedelta(minutes=1)
DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Admission:
    """How one student message is treated (see the module's docstring)."""

    quiet: bool  # over the per-minute limit: stored, not relayed one by one
    first_over: bool  # the first message over the limit in this window
    may_open: bool  # under the daily limit of new cases


def admit(student: Student, settings: Settings, now: datetime) -> Admission:
    """Count one message against the student's windows."""
    if student.window_start is None or now - student.window_start >= WINDOW:
        student.window_start, student.window_count = now, 0
    student.window_count = (student.window_count or 0) + 1
    if student.day_start is None or now - student.day_start >= DAY:
        student.day_start, student.day_cases = now, 0
    limit = settings.student_messages_per_minute
    return Admission(
        quiet=student.window_count > limit,
        first_over=student.window_count == limit + 1,
        may_open=(student.day_cases or 0) < settings.student_new_cases_per_day,
    )


def count_opened_case(student: Student) -> None:
    student.day_cases = (student.day_cases or 0) + 1


async def latest_open_case(session: AsyncSession, student: Student) -> Case | None:
    """The student's newest case that is not closed, locked like `cases.active_case`."""
    case = await session.scalar(
        select(Case)
        .where(Case.student_id == student.id, Case.status != CaseStatus.CLOSED)
        .order_by(Case.created_at.desc(), Case.id.desc())
        .limit(1)
        .with_for_update()
    )
    if case is not None:
        student.active_case_id = case.id
    return case


async def answer_quietly(
    session: AsyncSession, rt: Runtime, case: Case, admission: Admission
) -> None:
    """A message over the per-minute limit: once per window, the usual acknowledgement to
    the student and one line to the psychologist; nothing for the others."""
    if not admission.first_over:
        return
    now = rt.now()
    await cases.acknowledge(session, rt, case, opened=False, urgent=False)
    await audit.record(
        session, actor="system", event="student_flood", now=now, case_code=case.code
    )
    if case.status != CaseStatus.CLAIMED or case.psychologist_id is None or case.muted:
        return
    member = await session.get(Member, case.psychologist_id)
    if member is None or not member.active:
        return
    many = Text(
        "⏸ {code}: many messages in one minute. All of them are saved in the case; the "
        "rest of this minute's are not relayed one by one. If this is abuse, /mute {code} "
        "stops the relays.",
        code=codes.display(case.code),
    )
    notices.send(session, rt, Notice(member, many, relay_case_id=case.id), now=now)


async def set_muted(
    session: AsyncSession, rt: Runtime, member: Member, code_text: str, *, muted: bool
) -> Case:
    """`/mute CODE`, `/unmute CODE`: only the psychologist holding the case may do it. The
    student notices nothing; messages are still stored (see the module's docstring)."""
    if member.role != Role.PSYCHOLOGIST or not member.active:
        raise NotAllowed("psychologists only")
    code = codes.parse(code_text or "")
    if code is None:
        raise NotFound("no such case")
    case = await session.scalar(select(Case).where(Case.code == code).with_for_update())
    if case is None:
        raise NotFound("no such case")
    if case.status != CaseStatus.CLAIMED or case.psychologist_id != member.id:
        raise NotAllowed("not your case")
    if case.muted != muted:
        case.muted = muted
        await audit.record(
            session,
            actor=f"member:{member.id}",
            event="case_muted" if muted else "case_unmuted",
            now=rt.now(),
            case_code=case.code,
        )
    return case
