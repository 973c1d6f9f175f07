"""The psychologists' queue: who may see and take a case, and its life until it is closed.

Every state change is a conditional UPDATE on the case row (`WHERE status = ...`), so two
psychologists acting at once cannot both win, and it writes its audit row in the same
transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Case, CaseRecusal, Member
from bot.delivery import notices
from bot.delivery.notices import Joined, Notice, Phrase, Text
from bot.domain import CaseStatus, Outcome, Role
from bot.services.casework import codes, deadlines, notify
from bot.services.errors import AlreadyTaken, InvalidInput, NotAllowed, NotFound, ServiceError
from bot.services.routing import pool_policy
from bot.services.runtime import Runtime
from bot.services.security import audit
from bot.services.security.audit import member_actor

QUEUE_PAGE = 20


class CaseNotFound(NotFound):
    """No case has that code (or the text is not a case code)."""


class CaseClosed(ServiceError):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class NotInPool(NotAllowed):
    """The case waits in another pool (or this psychologist stepped aside from it)."""


class NotYourCase(NotAllowed):
    """Another psychologist has the case, or nobody does yet."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class NoActiveCase(ServiceError):
    """A message or command needs a case, and none is active or named."""


class PsychologistsOnly(NotAllowed):
    """Supervisors and staff never read or take cases."""


def _require_psychologist(member: Member) -> None:
    if member.role != Role.PSYCHOLOGIST or not member.active:
        raise PsychologistsOnly()


async def pool_clause(session: AsyncSession, member: Member) -> ColumnElement[bool]:
    """Cases a psychologist may see and take: those whose pool (bot.services.routing.pool_policy)
    holds them. Recusals remove a case from that one psychologist's view. Reads who is
    active once, so build it once per statement, not per case."""
    return await pool_policy.pool_clause(session, member)


async def find_case(session: AsyncSession, text: str) -> Case:
    code = codes.parse(text or "")
    if code is None:
        raise CaseNotFound(text[:20] if text else "")
    case = await session.scalar(select(Case).where(Case.code == code))
    if case is None:
        raise CaseNotFound(code)
    return case


async def list_queue(
    session: AsyncSession, member: Member, *, limit: int = QUEUE_PAGE
) -> tuple[list[Case], int]:
    """Open cases of the member's pool, urgent first, then the longest waiting (ix_cases_queue),
    and how many there are in all."""
    _require_psychologist(member)
    where = and_(Case.status == CaseStatus.OPEN, await pool_clause(session, member))
    total = await session.scalar(select(func.count()).select_from(Case).where(where)) or 0
    rows = await session.scalars(
        select(Case).where(where).order_by(Case.priority_rank, Case.created_at).limit(limit)
    )
    return list(rows.all()), total


@dataclass(frozen=True, slots=True)
class Claimed:
    case: Case
    already_yours: bool = False


async def _reload(session: AsyncSession, case_id: int) -> Case:
    case = await session.get(Case, case_id, populate_existing=True)
    assert case is not None
    return case


async def claim(session: AsyncSession, rt: Runtime, member: Member, code_text: str) -> Claimed:
    """Take a case. Exactly one of any number of concurrent claims wins; the others get
    AlreadyTaken and learn nothing about who won. The winner's copy of the conversation is
    the history the handler shows next (bot.services.casework.conversation.show_history);
    the other members' cards of the case are edited to "taken" (notify.cards_taken)."""
    _require_psychologist(member)
    case = await find_case(session, code_text)
    if case.psychologist_id == member.id and case.status == CaseStatus.CLAIMED:
        member.active_case_id = case.id  # taking your own case again makes it the active one
        return Claimed(case, already_yours=True)
    now = rt.now()
    mine = await pool_clause(session, member)
    won = (
        await session.scalars(
            update(Case)
            .where(Case.id == case.id, Case.status == CaseStatus.OPEN, mine)
            .values(status=CaseStatus.CLAIMED, psychologist_id=member.id, claimed_at=now)
            .returning(Case)  # the row as it now is, in the same round trip
            .execution_options(synchronize_session=False, populate_existing=True)
        )
    ).first()
    if won is not None:
        case = won
    else:
        case = await _reload(session, case.id)
        if case.status == CaseStatus.CLOSED:
            raise CaseClosed(case.code)
        if case.status == CaseStatus.CLAIMED and case.psychologist_id == member.id:
            member.active_case_id = case.id  # a double press: the first one won
            return Claimed(case, already_yours=True)
        if case.status == CaseStatus.CLAIMED:
            raise AlreadyTaken(case.code)
        raise NotInPool(case.code)
    member.active_case_id = case.id
    deadlines.schedule(case, rt.settings, now)
    await audit.record(
        session, actor=member_actor(member), event="case_claimed", now=now, case_code=case.code
    )
    taken = Text("A psychologist has taken your conversation and will answer you here soon.")
    notices.send(session, rt, Notice(case, taken), now=now)
    await notify.cards_taken(session, rt, case, member)
    return Claimed(case)


async def case_of_member(
    session: AsyncSession, member: Member, code_text: str | None, reply_case_id: int | None
) -> Case:
    """The case a command is about: the code given, else the replied-to case, else the
    active one."""
    if code_text:
        return await find_case(session, code_text)
    case_id = reply_case_id or member.active_case_id
    if case_id is None:
        raise NoActiveCase()
    case = await session.get(Case, case_id)
    if case is None:
        raise NoActiveCase()
    return case


def require_holder(case: Case, member: Member) -> None:
    """The case must be claimed by this member."""
    _require_psychologist(member)
    if case.status == CaseStatus.CLOSED:
        raise CaseClosed(case.code)
    if case.psychologist_id != member.id or case.status != CaseStatus.CLAIMED:
        raise NotYourCase(case.code)


async def _hand_over(
    session: AsyncSession, case: Case, member: Member, values: dict[str, Any]
) -> Case:
    """Change a case this member holds, only if they still hold it at this instant."""
    result = await session.execute(
        update(Case)
        .where(
            Case.id == case.id,
            Case.status == CaseStatus.CLAIMED,
            Case.psychologist_id == member.id,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    fresh = await _reload(session, case.id)
    if result.rowcount != 1:  # type: ignore[attr-defined]
        require_holder(fresh, member)  # raises the precise reason
        raise NotYourCase(case.code)
    if member.active_case_id == case.id:
        member.active_case_id = None
    return fresh


async def _back_to_pool(
    session: AsyncSession,
    rt: Runtime,
    case: Case,
    *,
    actor: str,
    event: str,
    exclude: int | None,
) -> None:
    now = rt.now()
    deadlines.schedule(case, rt.settings, now)
    await audit.record(session, actor=actor, event=event, now=now, case_code=case.code)
    await notify.notify_pool(
        session, rt, case, headline=Text("A case came back to the pool"), exclude=exclude
    )


HANDOVER_NOTE_MAX = 1000  # characters: a short note, one message with the card
HANDED_ON = Text(
    "Your psychologist has handed your conversation to a colleague, who will continue it "
    "here. Everything you wrote stays confidential."
)


def check_handover_note(note: str | None) -> str | None:
    """A hand-over note as stored: None when skipped; refused when empty or too long."""
    if note is None:
        return None
    note = note.strip()
    if not note or len(note) > HANDOVER_NOTE_MAX:
        raise InvalidInput("hand-over note empty or too long")
    return note


def _sealed_note(rt: Runtime, case: Case, note: str | None) -> bytes | None:
    return rt.vault.seal_for_case(case, "case", "handover_note", note) if note else None


def handover_note(rt: Runtime, case: Case) -> str | None:
    """The note the last holder left for whoever takes the case next."""
    if case.handover_note_enc is None or case.wrapped_key is None:
        return None
    return rt.vault.open_text_for_case(case, "case", "handover_note", case.handover_note_enc)


def _tell_student_handed_on(session: AsyncSession, rt: Runtime, case: Case) -> None:
    """The student hears that a colleague continues, never who."""
    if case.chat_id_enc is not None:
        notices.send(session, rt, Notice(case, HANDED_ON))


async def release(
    session: AsyncSession, rt: Runtime, member: Member, case: Case, note: str | None = None
) -> Case:
    """Give a case back to its pool, with an optional note for whoever takes it next
    (sealed under the case key, shown only to them); its psychologists are notified again,
    the student is told a colleague continues."""
    require_holder(case, member)
    note = check_handover_note(note)
    case = await _hand_over(
        session,
        case,
        member,
        {
            "status": CaseStatus.OPEN,
            "psychologist_id": None,
            "claimed_at": None,
            "handover_note_enc": _sealed_note(rt, case, note),
        },
    )
    await _back_to_pool(
        session, rt, case, actor=member_actor(member), event="case_released", exclude=member.id
    )
    _tell_student_handed_on(session, rt, case)
    return case


async def recuse(session: AsyncSession, rt: Runtime, member: Member, case: Case) -> Case:
    """Step aside (conflict of interest). The reason is not asked and not stored; the case
    leaves this psychologist's view for good, and returns to the pool if they held it."""
    _require_psychologist(member)
    if case.status == CaseStatus.CLOSED:
        raise CaseClosed(case.code)
    held = case.status == CaseStatus.CLAIMED and case.psychologist_id == member.id
    if not held:
        visible = await session.scalar(
            select(Case.id).where(
                Case.id == case.id,
                Case.status == CaseStatus.OPEN,
                await pool_clause(session, member),
            )
        )
        if visible is None:
            raise NotYourCase(case.code)
    if await session.get(CaseRecusal, (case.id, member.id)) is None:
        session.add(CaseRecusal(case_id=case.id, member_id=member.id))
    if member.active_case_id == case.id:
        member.active_case_id = None
    if held:
        case = await _hand_over(
            session,
            case,
            member,
            {"status": CaseStatus.OPEN, "psychologist_id": None, "claimed_at": None},
        )
        await session.flush()  # the recusal must exist before the pool is computed
        # Same event and headline as a release: the pool cannot tell the two apart.
        await _back_to_pool(
            session, rt, case, actor=member_actor(member), event="case_released", exclude=member.id
        )
    else:
        await audit.record(
            session,
            actor=member_actor(member),
            event="case_stepped_aside",
            now=rt.now(),
            case_code=case.code,
        )
    return case


async def transfer_candidates(session: AsyncSession, member: Member, case: Case) -> list[Member]:
    """Other psychologists who could take this case: its pool as it would be without the
    holder (bot.services.routing.pool_policy), by number."""
    require_holder(case, member)
    return (await pool_policy.pool_members(session, case, without=member.id))[:40]


async def transfer(
    session: AsyncSession,
    rt: Runtime,
    member: Member,
    case: Case,
    to_member_id: int,
    note: str | None = None,
) -> Member:
    """Hand a case to another psychologist of its pool, who is told at once, with the
    holder's note (if any) on the card; the student is told a colleague continues."""
    require_holder(case, member)
    note = check_handover_note(note)
    candidates = {m.id: m for m in await transfer_candidates(session, member, case)}
    target = candidates.get(to_member_id)
    if target is None:
        raise InvalidInput("not a psychologist of this pool")
    now = rt.now()
    # Shown on the target's card below: nothing is left waiting for a later take.
    case = await _hand_over(
        session,
        case,
        member,
        {"psychologist_id": target.id, "claimed_at": now, "handover_note_enc": None},
    )
    if target.active_case_id is None:
        target.active_case_id = case.id
    deadlines.schedule(case, rt.settings, now)
    await audit.record(
        session,
        actor=member_actor(member),
        event="case_transferred",
        now=now,
        case_code=case.code,
        detail={"to": target.id},
    )
    parts: list[Phrase] = [
        Text("A case was handed over to you."),
        await notify.case_card(session, case, now, found=notify.signals(rt, case)),
    ]
    if note:
        parts += ["", Text("📝 Note from the previous psychologist: {note}", note=note)]
    parts += ["", Text("/case {code} shows the conversation.", code=codes.display(case.code))]
    handed = Joined(tuple(parts))
    notices.send(
        session, rt, Notice(target, handed, relay_case_id=case.id, protect_content=True), now=now
    )
    _tell_student_handed_on(session, rt, case)
    return target


async def close(
    session: AsyncSession, rt: Runtime, member: Member, case: Case, outcome: str
) -> Case:
    """Close with an outcome; the student is told that a new message starts a new talk."""
    require_holder(case, member)
    if outcome not in {o.value for o in Outcome}:
        raise InvalidInput("unknown outcome")
    now = rt.now()
    case = await _hand_over(
        session,
        case,
        member,
        {
            "status": CaseStatus.CLOSED,
            "outcome": outcome,
            "closed_at": now,
            "next_deadline_at": None,
            "awaiting_since": None,
        },
    )
    deadlines.schedule(case, rt.settings, now)
    await audit.record(
        session,
        actor=member_actor(member),
        event="case_closed",
        now=now,
        case_code=case.code,
        detail={"outcome": outcome},
    )
    if case.chat_id_enc is not None:
        closed = Text(
            "The psychologist has closed this conversation. If something worries you "
            "again, just write here: a new conversation will start."
        )
        notices.send(session, rt, Notice(case, closed), now=now)
    return case


async def return_cases_of(
    session: AsyncSession, rt: Runtime, member: Member, *, actor: str
) -> list[str]:
    """Every case a member holds goes back to its pool (the member was switched off)."""
    held = (
        await session.scalars(
            select(Case)
            .where(Case.psychologist_id == member.id, Case.status == CaseStatus.CLAIMED)
            .with_for_update()
        )
    ).all()
    for case in held:
        case.status = CaseStatus.OPEN
        case.psychologist_id = None
        case.claimed_at = None
        await _back_to_pool(
            session, rt, case, actor=actor, event="case_released", exclude=member.id
        )
    return [case.code for case in held]
