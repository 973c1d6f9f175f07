"""The student's side of a case: open it, add messages, and what each message causes.

A student's message is stored sealed in their active case (opening one when needed), then
`after_student_message` relays it to the psychologist holding the case or announces it to
the pool (bot.services.casework.notify), and the student gets their answer here
(`acknowledge`): "Received ✓", the first message's promise, or the urgent reply with the
emergency numbers (bot.services.casework.safety).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Case, CaseMessage, Member, Student
from bot.delivery import file_cleaning, notices
from bot.delivery.notices import Joined, Notice, Text
from bot.domain import (
    PRIORITY_RANK,
    Author,
    CaseStatus,
    Category,
    ContentKind,
    Priority,
    Role,
)
from bot.services.casework import codes, deadlines, flood, notify, safety
from bot.services.casework.hours import after_hours_note
from bot.services.labels import N_
from bot.services.routing import pool_policy
from bot.services.runtime import Runtime
from bot.services.security import audit, retention
from bot.triage import Assessment, assess


@dataclass(frozen=True, slots=True)
class IncomingContent:
    """One student message as parsed by the handler; text is the text or the caption."""

    kind: ContentKind
    text: str
    file_id: str | None
    source_message_id: int | None


@dataclass(frozen=True, slots=True)
class SubmitResult:
    case_id: int
    case_code: str
    opened: bool
    became_urgent: bool
    assessment: Assessment


async def get_student(session: AsyncSession, rt: Runtime, telegram_user_id: int) -> Student | None:
    pseudonym = rt.vault.pseudonyms.student_id(telegram_user_id)
    return await session.scalar(select(Student).where(Student.pseudonym == pseudonym))


async def get_or_create_student(
    session: AsyncSession, rt: Runtime, telegram_user_id: int
) -> Student:
    student = await get_student(session, rt, telegram_user_id)
    if student is not None:
        return student
    pseudonym = rt.vault.pseudonyms.student_id(telegram_user_id)
    student = Student(
        pseudonym=pseudonym, created_at=rt.now(), step="", window_count=0, day_cases=0
    )
    try:
        async with session.begin_nested():
            session.add(student)
    except IntegrityError:  # the same student, in a concurrent update
        found = await get_student(session, rt, telegram_user_id)
        assert found is not None
        return found
    return student


async def active_case(session: AsyncSession, student: Student) -> Case | None:
    if student.active_case_id is None:
        return None
    case = await session.get(Case, student.active_case_id, with_for_update=True)
    if case is None or case.status == CaseStatus.CLOSED:
        return None
    return case


async def language_chosen(session: AsyncSession, student: Student) -> None:
    """The student chose their language (/lang): their open case speaks it from now on, so
    what the case sends them (taken, notices) follows the choice, not the opening's."""
    case = await active_case(session, student)
    if case is not None and student.language:
        case.language = student.language


async def _open_case(session: AsyncSession, rt: Runtime, student: Student, chat_id: int) -> Case:
    now = rt.now()
    place = await pool_policy.place_of_student(session, student)
    for _ in range(5):
        code = codes.new_code()
        if await session.scalar(select(Case.id).where(Case.code == code)) is None:
            break
    case = Case(
        code=code,
        student_id=student.id,
        language=student.language or "ru",
        status=CaseStatus.OPEN,
        priority=Priority.NORMAL,
        priority_rank=PRIORITY_RANK[Priority.NORMAL],
        category=Category.OTHER,
        created_at=now,
        muted=False,
        unreachable=False,
        escalation_level=0,
        escalations=0,
        deadline_breaches=0,
        message_count=0,
    )
    pool_policy.place_case(case, place)
    rt.vault.new_case_key(case)
    case.chat_id_enc = rt.vault.seal_for_case(case, "case", "chat_id", str(chat_id))
    session.add(case)
    await session.flush()
    student.active_case_id = case.id
    await audit.record(session, actor="student", event="case_opened", now=now, case_code=case.code)
    return case


async def student_placed(session: AsyncSession, rt: Runtime, student: Student) -> Case | None:
    """The student gave a place (picked a region or district, or scanned a poster) after
    writing: their case goes there.

    A case nobody has taken moves to the new place's pool (bot.services.routing.pool_policy), whose
    members get its card; a taken case keeps its psychologist and only its place changes
    (a release then returns it to the new pool). Audited either way, with the level of the
    new place only.
    """
    case = await active_case(session, student)
    if case is None:
        return None
    place = await pool_policy.place_of_student(session, student)
    if (case.school_id, case.district_id, case.region_id) == (
        place.school_id,
        place.district_id,
        place.region_id,
    ):
        return case
    pool_policy.place_case(case, place)
    moved = case.status == CaseStatus.OPEN
    await audit.record(
        session,
        actor="student",
        event="case_moved" if moved else "case_place_changed",
        now=rt.now(),
        case_code=case.code,
        detail={"to": place.level},
    )
    if moved:
        await notify.notify_pool(session, rt, case, headline=Text("A case moved to your pool"))
    return case


def _raise_priority(case: Case, rt: Runtime, found: Assessment) -> bool:
    """Keep the most severe assessment seen on the case. True if it became urgent now."""
    became_urgent = False
    if PRIORITY_RANK[found.priority] < case.priority_rank:
        became_urgent = found.priority == Priority.URGENT
        case.priority = found.priority
        case.priority_rank = PRIORITY_RANK[found.priority]
        case.category = found.category
    elif case.category == Category.OTHER and found.category != Category.OTHER:
        case.category = found.category
    if found.signals:
        seen: list[str] = []
        if case.signals_enc is not None:
            seen = json.loads(rt.vault.open_for_case(case, "case", "signals", case.signals_enc))
        merged = list(dict.fromkeys([*seen, *found.signals]))[:30]
        case.signals_enc = rt.vault.seal_for_case(case, "case", "signals", json.dumps(merged))
    return became_urgent


def case_signals(rt: Runtime, case: Case) -> list[str]:
    if case.signals_enc is None:
        return []
    result: list[str] = json.loads(
        rt.vault.open_for_case(case, "case", "signals", case.signals_enc)
    )
    return result


FILES_CLEANED = N_(
    "🔒 Photos and files reach the psychologist without their names and hidden details "
    "(where and when a photo was taken, the phone it came from)."
)


async def _first_file(
    session: AsyncSession, case: Case, content: IncomingContent, *, opened: bool
) -> bool:
    """Whether this is the first photo or document the student sends in `case` (they are
    told once per case how files are passed on)."""
    if content.kind not in file_cleaning.CLEANED_KINDS or not content.file_id:
        return False
    if opened:
        return True
    earlier = await session.scalar(
        select(CaseMessage.id)
        .where(
            CaseMessage.case_id == case.id,
            CaseMessage.author == Author.STUDENT,
            CaseMessage.kind.in_(tuple(file_cleaning.CLEANED_KINDS)),
        )
        .limit(1)
    )
    return earlier is None


async def submit_student_message(
    session: AsyncSession, rt: Runtime, student: Student, chat_id: int, content: IncomingContent
) -> SubmitResult:
    """Store one student message (sealed) in the active case, opening one if needed."""
    now = rt.now()
    admission = flood.admit(student, rt.settings, now)
    case = await active_case(session, student)
    if case is None and not admission.may_open:
        case = await flood.latest_open_case(session, student)
    opened = case is None
    if case is None:
        case = await _open_case(session, rt, student, chat_id)
        flood.count_opened_case(student)
    elif case.chat_id_enc is None:  # the student used /forget earlier on this case
        case.chat_id_enc = rt.vault.seal_for_case(case, "case", "chat_id", str(chat_id))
    case.unreachable = False  # they wrote, so they can be reached again
    found = assess(content.text)
    became_urgent = _raise_priority(case, rt, found)
    message = CaseMessage(
        id=uuid.uuid4(),
        case_id=case.id,
        author=Author.STUDENT,
        kind=content.kind,
        source_message_id=content.source_message_id,
        created_at=now,
    )
    row = f"msg/{message.id}"
    if content.text:
        message.body_enc = rt.vault.seal_for_case(case, row, "body", content.text)
    first_file = await _first_file(session, case, content, opened=opened)
    if content.file_id:
        message.file_id_enc = rt.vault.seal_for_case(case, row, "file_id", content.file_id)
    session.add(message)
    case.message_count += 1
    case.last_student_at = now
    if case.awaiting_since is None:
        case.awaiting_since = now
    deadlines.schedule(case, rt.settings, now)
    message_urgent = found.priority == Priority.URGENT
    if admission.quiet and not (opened or became_urgent or message_urgent):
        await flood.answer_quietly(session, rt, case, admission)
    else:
        await after_student_message(
            session,
            rt,
            case,
            content,
            opened=opened,
            became_urgent=became_urgent,
            message_urgent=message_urgent,
        )
    if first_file:
        notices.send(session, rt, Notice(case, Text(FILES_CLEANED)), now=now)
    await audit.record(
        session,
        actor="student",
        event="student_message",
        now=now,
        case_code=case.code,
        detail={"kind": content.kind},
    )
    return SubmitResult(case.id, case.code, opened, became_urgent, found)


async def after_student_message(
    session: AsyncSession,
    rt: Runtime,
    case: Case,
    content: IncomingContent,
    *,
    opened: bool,
    became_urgent: bool,
    message_urgent: bool = False,
) -> None:
    """Relay or announce a student's message, then acknowledge it.

    An urgent message in a case that was already urgent (`message_urgent` without
    `became_urgent`) re-alerts the holder, else the pool, and gets the urgent reply again,
    at most once in `safety.REPLY_EVERY`.
    """
    now = rt.now()
    followup = (
        message_urgent
        and not (opened or became_urgent)
        and case.priority == Priority.URGENT
        and safety.may_repeat_reply(case, now)
    )
    alerted: list[Member] = []
    if case.status == CaseStatus.CLAIMED and case.psychologist_id is not None:
        member = await session.get(Member, case.psychologist_id)
        if member is not None and member.active:
            if not case.muted:
                notify.relay_to_psychologist(session, rt, case, member, content)
            if became_urgent or followup:  # even when muted: this is an alert, not a relay
                code = codes.display(case.code)
                alert = (
                    Text("🔴 Case {code} is now urgent.", code=code)
                    if became_urgent
                    else Text("🔴 {code}: another urgent message from the student.", code=code)
                )
                notify.alert_holder(session, rt, case, member, alert)
                alerted = [member]
    elif opened:
        alerted = await notify.notify_pool(
            session, rt, case, headline=Text("New case in your pool")
        )
    elif became_urgent:
        alerted = await notify.notify_pool(
            session, rt, case, headline=Text("A waiting case became urgent")
        )
    elif followup:
        alerted = await notify.notify_pool(
            session,
            rt,
            case,
            headline=Text("🔴 Another urgent message in a waiting case"),
        )
    urgent = case.priority == Priority.URGENT and (opened or became_urgent or followup)
    if urgent:
        case.urgent_alerted_at = now
    await acknowledge(
        session,
        rt,
        case,
        opened=opened,
        urgent=urgent,
        alerted=any(m.role == Role.PSYCHOLOGIST for m in alerted),
        urgent_again=message_urgent and not urgent and case.priority == Priority.URGENT,
    )


async def acknowledge(
    session: AsyncSession,
    rt: Runtime,
    case: Case,
    *,
    opened: bool,
    urgent: bool,
    alerted: bool = False,
    urgent_again: bool = False,
) -> None:
    """The student's answer to their message.

    Urgent: the emergency reply (casework.safety), which says a psychologist was alerted
    only when `alerted` (a psychologist really was told). `urgent_again`: a further urgent
    message within ten minutes of the last urgent reply, pointed back to the numbers.
    """
    if urgent:
        await safety.send_urgent_reply(session, rt, case, alerted=alerted)
        return
    if opened:
        thanks = Text(
            "Thank you for writing. Your message is saved safely. A psychologist will read it "
            "and answer you right here. You can keep writing."
        )
        # Outside working hours the student hears when to expect an answer and that 111 is
        # there.
        closed_note = await after_hours_note(session, case, rt.now())
        # The 🆘 button, for a student who wrote without /start (no greeting, no keyboard).
        notices.send(
            session,
            rt,
            Notice(
                case,
                Joined((thanks, closed_note), "\n\n") if closed_note else thanks,
                keyboard=safety.SOS_KEYBOARD,
            ),
        )
    elif urgent_again:
        notices.send(
            session,
            rt,
            Notice(
                case,
                Text(
                    "Received ✓ If you are in danger, calling one of the numbers above "
                    "is the fastest help."
                ),
            ),
        )
    else:
        notices.send(session, rt, received(case))


def received(case: Case) -> Notice:
    """The student's answer to an ordinary message (also the lean path's,
    bot.services.casework.lean)."""
    return Notice(case, Text("Received ✓"))


async def start_new_case(session: AsyncSession, rt: Runtime, student: Student) -> None:
    """`/new`: the next message opens a fresh case; the old one stays with its psychologist."""
    student.active_case_id = None


async def forget_student(session: AsyncSession, rt: Runtime, student: Student) -> int:
    """`/forget`: unlink the student from their cases and drop the stored chat ids.

    Psychologists keep what was written (it may matter for the child's safety), but no
    answer can reach this chat any more and nothing links the cases to the pseudonym: not
    the ids of the messages in the student's chat, and not the audit log, whose one row
    names no case (rows naming each case at one instant would tie them together).
    """
    now = rt.now()
    cases = (await session.scalars(select(Case).where(Case.student_id == student.id))).all()
    for case in cases:
        case.chat_id_enc = None
        case.student_id = None
    if cases:
        await session.execute(
            update(CaseMessage)
            .where(
                CaseMessage.case_id.in_([case.id for case in cases]),
                CaseMessage.author == Author.STUDENT,
            )
            .values(source_message_id=None)
            .execution_options(synchronize_session=False)
        )
        # The copies of their words in staff chats go too, where Telegram allows (48 h).
        await retention.delete_staff_copies(session, rt, [c.id for c in cases], cards=False)
    await audit.record(session, actor="student", event="student_forgot", now=now)
    await session.delete(student)
    return len(cases)


def wait_time(case: Case, now: datetime) -> timedelta:
    return now - case.created_at
