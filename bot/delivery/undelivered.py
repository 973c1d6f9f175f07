"""Never silent: when Telegram refuses a message for good, the person who wrote it is told.

The outbox sender (bot/delivery/sender.py) calls `tell` after it recorded a row as `blocked` (403)
or `failed` (400), with what it knows of the row. Whoever is told, it is in their language
and through the outbox:

- a student's message that did not reach their psychologist: the student, with the time of
  the message (it stays in the case, where the psychologist can read it);
- a psychologist's answer that did not reach the student: the psychologist, with the case
  code; the first 403 of a case also marks it unreachable (once, as before);
- a new case's card that did not reach a psychologist of the pool: the supervisors the
  routing policy escalates to (bot.services.routing.pool_policy.escalation_supervisors).

Messages nobody wrote (an acknowledgement, a notice) are only counted by the sender.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Case, Member, Region
from bot.delivery import file_cleaning, notices
from bot.delivery.notices import Notice, Text
from bot.domain import CaseStatus
from bot.services.casework import codes, conversation
from bot.services.labels import N_
from bot.services.routing import pool_policy
from bot.services.runtime import Runtime
from bot.services.security import audit

# Why a message did not go, as the sender classifies Telegram's refusal.
BLOCKED = "blocked"  # 403: the bot was blocked, or the account is gone
CHAT_NOT_FOUND = "chat_not_found"
TOO_LONG = "too_long"
REFUSED = "bad_request"  # any other 400

# Said to the psychologist (formal register) about the student's side.
ABOUT_STUDENT = {
    BLOCKED: N_("the student has blocked the bot"),
    CHAT_NOT_FOUND: N_("the student's chat no longer exists"),
    TOO_LONG: N_("it is too long for Telegram; please send it in shorter parts"),
    REFUSED: N_("Telegram refused it"),
}
# Said to the student (informal register, as everywhere on their side) or to a supervisor
# about the psychologist's side.
ABOUT_PSYCHOLOGIST = {
    BLOCKED: N_("the psychologist cannot receive messages from the bot right now"),
    CHAT_NOT_FOUND: N_("the psychologist's chat no longer exists"),
    TOO_LONG: N_("it was too long for Telegram: try sending it in a few shorter messages"),
    REFUSED: N_("Telegram refused it"),
    # A student's file not passed on (bot.delivery.file_cleaning).
    file_cleaning.FILE_TOO_BIG: N_(
        "the file is too big to pass on (over 20 MB): a smaller photo, or a few words "
        "about it, will do"
    ),
    file_cleaning.FILE_UNREADABLE: N_(
        "we could not open the file to remove its hidden details, so it was not passed "
        "on: try sending it as a photo, or tell about it in words"
    ),
}
UNREACHABLE = N_(
    "⚠️ {code}: the student can no longer be reached (they blocked the bot or left). "
    "Nothing is lost; the case stays with you."
)
ANSWER_LOST = N_("⚠️ Your answer of {time} in case {code} did not reach the student: {why}.")
MESSAGE_LOST = N_(
    "⚠️ Your message of {time} could not be delivered to the psychologist: {why}. It is "
    "kept in your conversation. If you are in danger right now, call 111."
)
CARD_LOST = N_(
    "⚠️ The card of case {code} did not reach psychologist account {number}: {why}. The "
    "case waits in the queue; /members shows the accounts."
)
PSYCHOLOGIST_LABEL = conversation.PSYCHOLOGIST_LABEL


@dataclass(frozen=True, slots=True)
class Refused:
    """A row Telegram refused for good, as the sender saw it (nothing in clear is kept)."""

    reason: str
    created_at: datetime
    case_id: int | None = None
    member_id: int | None = None
    relay_case_id: int | None = None
    # The start of the text or caption, a copied message, a Take button: what it was.
    head: str = ""
    copied: bool = False
    card: bool = False


async def tell(session: AsyncSession, rt: Runtime, refused: Refused) -> str | None:
    """Tell whoever wrote the refused message; returns who was told, for the log."""
    if refused.case_id is not None:
        return await _to_student_refused(session, rt, refused)
    if refused.member_id is not None and refused.relay_case_id is not None:
        return await _to_member_refused(session, rt, refused)
    return None


async def _to_student_refused(session: AsyncSession, rt: Runtime, refused: Refused) -> str | None:
    case = await session.get(Case, refused.case_id, with_for_update=True)
    if case is None:
        return None
    now = rt.now()
    first_block = refused.reason == BLOCKED and not case.unreachable
    if first_block:
        case.unreachable = True
        await audit.record(
            session, actor="system", event="student_unreachable", now=now, case_code=case.code
        )
    holder = await _holder(session, case)
    if holder is None:
        return None
    code = codes.display(case.code)
    if first_block:
        text = Text(UNREACHABLE, code=code)
    elif _is_answer(rt, case, refused):
        text = Text(
            ANSWER_LOST,
            code=code,
            time=await _local_time(session, case, refused.created_at),
            why=Text(ABOUT_STUDENT[refused.reason]),
        )
    else:
        return None
    notices.send(session, rt, Notice(holder, text, relay_case_id=case.id), now=now)
    return "psychologist"


def _is_answer(rt: Runtime, case: Case, refused: Refused) -> bool:
    """A psychologist's answer: copied from their chat, or text under their label (every
    part of a long answer carries it)."""
    label = notices.render(rt, case.language, PSYCHOLOGIST_LABEL)
    return refused.copied or refused.head.startswith(label)


async def _holder(session: AsyncSession, case: Case) -> Member | None:
    if case.status != CaseStatus.CLAIMED or case.psychologist_id is None:
        return None
    member = await session.get(Member, case.psychologist_id)
    return member if member is not None and member.active else None


async def _to_member_refused(session: AsyncSession, rt: Runtime, refused: Refused) -> str | None:
    case = await session.get(Case, refused.relay_case_id)
    member = await session.get(Member, refused.member_id)
    if case is None or member is None:
        return None
    now = rt.now()
    if refused.card:
        told = await pool_policy.escalation_supervisors(session, case)
        # The card is the bot's own text: "send it shorter" would mean nothing here.
        why = (
            ABOUT_PSYCHOLOGIST[refused.reason]
            if refused.reason in (BLOCKED, CHAT_NOT_FOUND)
            else ABOUT_PSYCHOLOGIST[REFUSED]
        )
        lost = Text(CARD_LOST, code=codes.display(case.code), number=member.id, why=Text(why))
        notices.send(session, rt, [Notice(supervisor, lost) for supervisor in told], now=now)
        return "supervisor" if told else None
    if (
        case.psychologist_id != member.id
        or case.chat_id_enc is None
        or case.wrapped_key is None
        or case.status == CaseStatus.CLOSED
    ):
        return None  # not the student's own message, or nobody left to tell
    lost = Text(
        MESSAGE_LOST,
        time=await _local_time(session, case, refused.created_at),
        why=Text(ABOUT_PSYCHOLOGIST[refused.reason]),
    )
    notices.send(session, rt, Notice(case, lost), now=now)
    return "student"


async def _local_time(session: AsyncSession, case: Case, at: datetime) -> str:
    """ "14:32" in the case's region's time zone (UTC when it is unknown)."""
    region = await session.get(Region, case.region_id) if case.region_id else None
    zone: ZoneInfo | None = None
    if region is not None:
        try:
            zone = ZoneInfo(region.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            zone = None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    local = at.astimezone(zone) if zone is not None else at.astimezone(UTC)
    return local.strftime("%H:%M") + ("" if zone is not None else " UTC")
