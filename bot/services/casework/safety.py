"""Student safety: the 🆘 button, the urgent reply, and asking when unsure.

- **The 🆘 button** (a persistent reply-keyboard button, and `/sos`): one press opens a case
  or joins the active one, makes it urgent, answers the student at once with the emergency
  numbers of their country, and alerts whoever holds the case, else its pool. The deadline
  worker then re-alerts every 5 minutes until someone takes it (bot.services.routing.escalation).
  Pressing again re-alerts at most once a minute. The press is not stored as a message
  (the psychologist would read a button's words as the child's): it is an audit event and
  a signal on the case.
- **The urgent reply** (here, for a press and for urgent messages): says that a psychologist
  has been alerted only when one really was, and never promises "one of them" when the case
  already has its psychologist. A further urgent message in an urgent case gets it again at
  most once in 10 minutes (bot.services.casework.cases.after_student_message).
- **Asking when unsure**: a message the triage reads as HIGH, or with weak risk hints, makes
  the bot ask once a day per case whether the student is in danger now or thinking of hurting
  themselves. "I'm in danger now" acts exactly as the button; "I'm safe now" is acknowledged
  and recorded as an event.

What the student is told here is said as notices (bot/delivery/notices.py): the 🆘 keyboard
is a `Keyboard`, the question's buttons carry `SafetyAnswer` (bot/callbacks.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import SafetyAnswer
from bot.db.models import Case, Member, Student
from bot.delivery import notices
from bot.delivery.notices import Button, Joined, Keyboard, Notice, Phrase, Text
from bot.domain import CaseStatus, Category, Language, Priority, Role
from bot.services.casework import cases, codes, deadlines, flood, helplines, notify
from bot.services.casework.hours import after_hours_note
from bot.services.labels import N_
from bot.services.routing import pool_policy
from bot.services.runtime import Runtime
from bot.services.security import audit
from bot.triage import Assessment

log = logging.getLogger(__name__)

SOS_PREFIX = "🆘"
SOS_LABEL = N_("🆘 I need help now")
REALERT_EVERY = timedelta(minutes=1)  # the button, pressed again
REPLY_EVERY = timedelta(minutes=10)  # the urgent reply to further urgent messages
ASK_EVERY = timedelta(days=1)  # "are you in danger right now?"

# Signals on the case (lexicon-like labels, never the student's words), shown translated
# on the pool's cards (bot.services.casework.notify).
SIGNAL_SOS = notify.SIGNAL_SOS
SIGNAL_DANGER = notify.SIGNAL_DANGER

SOURCES = ("button", "command", "answer")


def is_sos(text: str | None) -> bool:
    """The 🆘 button's text in any of our languages (a student may have changed /lang)."""
    return bool(text) and text.lstrip().startswith(SOS_PREFIX)  # type: ignore[union-attr]


def words_beside_button(rt: Runtime, text: str) -> str:
    """What the student wrote besides pressing: "" for the button's own words (in any of
    our languages) or a bare /sos; otherwise the words, to be kept as a message ("🆘 меня
    бьют" is both a press and something the psychologist must read)."""
    stripped = text.strip()
    if stripped.startswith("/"):
        parts = stripped.split(maxsplit=1)
        return parts[1].strip() if len(parts) > 1 else ""
    labels = {rt.tr(lang.value, SOS_LABEL) for lang in Language} | {SOS_LABEL, SOS_PREFIX}
    return "" if stripped in labels else stripped


SOS_KEYBOARD = Keyboard(((Text(SOS_LABEL),),))  # persistent, under the input field


def sos_keyboard(rt: Runtime, lang: str) -> dict[str, Any]:
    """The 🆘 keyboard as a Bot API dictionary, for the handlers' own answers."""
    return notices.keyboard_markup(rt, lang, SOS_KEYBOARD)


def needs_question(found: Assessment) -> bool:
    """HIGH, or NORMAL with weak risk hints ("таблетки", "умру" alone): worth asking."""
    if found.priority == Priority.HIGH:
        return True
    if found.priority != Priority.NORMAL or not found.signals:
        return False
    return found.category == Category.OTHER or any("(weak)" in s for s in found.signals)


def may_repeat_reply(case: Case, now: datetime) -> bool:
    return case.urgent_replied_at is None or now - case.urgent_replied_at >= REPLY_EVERY


async def active_holder(session: AsyncSession, case: Case) -> Member | None:
    """The psychologist holding the case, if it is taken and they are still active."""
    if case.status != CaseStatus.CLAIMED or case.psychologist_id is None:
        return None
    member = await session.get(Member, case.psychologist_id)
    return member if member is not None and member.active else None


def _psychologists(members: list[Member]) -> bool:
    return any(m.role == Role.PSYCHOLOGIST for m in members)


async def alert(
    session: AsyncSession, rt: Runtime, case: Case, *, holder_text: Text, pool_headline: Text
) -> bool:
    """Tell the holder now (even of a muted case: this is not a relay), else the pool (its
    card: the case and its signals, never the student's words).

    True when a psychologist was told; supervisors alone (no psychologist anywhere) are not.
    """
    case.urgent_alerted_at = rt.now()
    holder = await active_holder(session, case)
    if holder is not None:
        notify.alert_holder(session, rt, case, holder, holder_text)
        return True
    members = await notify.notify_pool(session, rt, case, headline=pool_headline)
    return _psychologists(members)


async def psychologist_reachable(session: AsyncSession, case: Case) -> bool:
    """Whether an alert about this case reaches a psychologist (its holder, or its pool)."""
    if await active_holder(session, case) is not None:
        return True
    return bool(await pool_policy.pool_members(session, case))


async def urgent_reply(
    session: AsyncSession, case: Case, now: datetime, *, alerted: bool
) -> Phrase:
    """The emergency reply: the numbers of the student's country, each labelled, and what
    happens next, only as far as it is true."""
    numbers = helplines.numbers_text(await helplines.case_numbers(session, case))
    taken = await active_holder(session, case) is not None
    night = await after_hours_note(session, case, now) is not None
    worried = Text("I am very worried about you.")
    if not alerted:
        next_step = Text("Your message is saved. The fastest help right now is a phone call.")
    elif night and taken:
        next_step = Text(
            "Your message is saved and your psychologist has been "
            "alerted; they will write to you here as soon as they can."
        )
    elif night:
        next_step = Text(
            "Your message is saved and the psychologists have been "
            "alerted; one of them will write to you here as soon as "
            "possible."
        )
    elif taken:
        next_step = Text(
            "Your psychologist has been alerted right now and will write to you here."
        )
    else:
        next_step = Text("A psychologist has been alerted right now and will write to you here.")
    if night:
        call = Text(
            "Please call one of these numbers right now: they answer day and "
            "night, and the call is free:"
        )
        return Joined((Joined((worried, call), " "), numbers, "", next_step))
    call = Text(
        "If you are in danger or might hurt yourself, call one of these "
        "numbers now. The call is free:"
    )
    return Joined((Joined((worried, next_step), " "), "", call, numbers))


async def send_urgent_reply(
    session: AsyncSession, rt: Runtime, case: Case, *, alerted: bool
) -> None:
    now = rt.now()
    text = await urgent_reply(session, case, now, alerted=alerted)
    case.urgent_replied_at = now
    notices.send(session, rt, Notice(case, text, keyboard=SOS_KEYBOARD), now=now)


@dataclass(frozen=True, slots=True)
class SosResult:
    case_id: int
    case_code: str
    opened: bool
    became_urgent: bool
    realerted: bool  # the holder or the pool was alerted by this press
    alerted: bool  # a psychologist knows (by this press or the one a minute before)


def _may_open(student: Student, rt: Runtime, now: datetime) -> bool:
    if student.day_start is None or now - student.day_start >= flood.DAY:
        return True
    return (student.day_cases or 0) < rt.settings.student_new_cases_per_day


async def _case_for_sos(
    session: AsyncSession, rt: Runtime, student: Student, chat_id: int, now: datetime
) -> tuple[Case, bool]:
    case = await cases.active_case(session, student)
    if case is None and not _may_open(student, rt, now):
        case = await flood.latest_open_case(session, student)
    if case is None:
        case = await cases._open_case(session, rt, student, chat_id)
        flood.count_opened_case(student)
        return case, True
    if case.chat_id_enc is None:  # the student used /forget earlier on this case
        case.chat_id_enc = rt.vault.seal_for_case(case, "case", "chat_id", str(chat_id))
    return case, False


async def press_sos(
    session: AsyncSession, rt: Runtime, student: Student, chat_id: int, *, source: str
) -> SosResult:
    """The 🆘 button, `/sos`, or "I'm in danger now": urgent at once (see the module)."""
    assert source in SOURCES
    now = rt.now()
    case, opened = await _case_for_sos(session, rt, student, chat_id, now)
    case.unreachable = False
    signal = SIGNAL_DANGER if source == "answer" else SIGNAL_SOS
    became_urgent = cases._raise_priority(
        case, rt, Assessment(Priority.URGENT, Category(case.category), (signal,))
    )
    if case.awaiting_since is None:  # someone must answer: the answering deadlines run
        case.awaiting_since = now
    deadlines.schedule(case, rt.settings, now)
    due = (
        opened
        or became_urgent
        or case.urgent_alerted_at is None
        or now - case.urgent_alerted_at >= REALERT_EVERY
    )
    if due:
        code = codes.display(case.code)
        if source == "answer":
            holder_text = Text(
                "🆘 {code}: asked by the bot, the student answered that they are in danger now.",
                code=code,
            )
            headline = Text("🆘 A student answered that they are in danger now")
        else:
            holder_text = Text(
                "🆘 {code}: the student pressed the help button. They may be in danger right now.",
                code=code,
            )
            headline = Text("🆘 A student pressed the help button")
        alerted = await alert(session, rt, case, holder_text=holder_text, pool_headline=headline)
    else:
        alerted = await psychologist_reachable(session, case)
    await send_urgent_reply(session, rt, case, alerted=alerted)
    await audit.record(
        session,
        actor="student",
        event="student_sos",
        now=now,
        case_code=case.code,
        detail={
            "source": source,
            "opened": int(opened),
            "realerted": int(due),
            "alerted": int(alerted),
        },
    )
    log.info(
        "student_sos case=%s source=%s opened=%s realerted=%s alerted=%s",
        case.code,
        source,
        opened,
        due,
        alerted,
    )
    return SosResult(case.id, case.code, opened, became_urgent, due, alerted)


def question_buttons(code: str) -> tuple[tuple[Button, ...], ...]:
    """The two answers to "are you in danger right now?", one per row."""
    return (
        (Button(Text("I'm in danger now"), SafetyAnswer(answer="danger", code=code)),),
        (Button(Text("I'm safe now"), SafetyAnswer(answer="ok", code=code)),),
    )


async def ask_if_unsure(
    session: AsyncSession,
    rt: Runtime,
    case_id: int,
    found: Assessment,
) -> bool:
    """After a student's message: ask "are you in danger right now?" when the triage is
    unsure (see `needs_question`), once a day per case, never on an urgent case."""
    if not needs_question(found):
        return False
    case = await session.get(Case, case_id)
    if case is None or case.status == CaseStatus.CLOSED or case.priority == Priority.URGENT:
        return False
    now = rt.now()
    if case.safety_asked_at is not None and now - case.safety_asked_at < ASK_EVERY:
        return False
    case.safety_asked_at = now
    question = Text(
        "Can I ask you something important? Are you in danger right now, or "
        "are you thinking of hurting yourself?"
    )
    notices.send(session, rt, Notice(case, question, buttons=question_buttons(case.code)), now=now)
    await audit.record(session, actor="system", event="safety_asked", now=now, case_code=case.code)
    return True


async def answer_safe(session: AsyncSession, rt: Runtime, student: Student, code: str) -> bool:
    """ "I'm safe now": a kind answer and an audit event on the student's case (if it is
    theirs). False when the code names no case of this student."""
    case = await session.scalar(
        select(Case).where(Case.code == code, Case.student_id == student.id)
    )
    if case is None:
        return False
    now = rt.now()
    glad = Text(
        "Thank you for telling me. I am glad you are safe. Write "
        "whenever you want: a psychologist will answer you here. If "
        "things change, press 🆘 or call 111."
    )
    notices.send(session, rt, Notice(case, glad), now=now)
    await audit.record(
        session, actor="student", event="student_safe_now", now=now, case_code=case.code
    )
    return True
