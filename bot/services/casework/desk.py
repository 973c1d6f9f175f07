"""The psychologist's desk: the cases a psychologist holds, as `/mine` lists them.

Each held case comes with when its last message was written (a student's or a
psychologist's; notes are not messages) and whether the student is waiting for an answer:
the last word is the student's. Urgent first, then the longest waiting student, then the
oldest case. Reads only the message rows' authors and times, never their content.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Case, CaseMessage, Member, Region
from bot.domain import Author, CaseStatus, Role
from bot.services.routing.queue import PsychologistsOnly

MINE_PAGE = 30  # thirty lines and buttons stay inside one Telegram message


@dataclass(frozen=True, slots=True)
class HeldCase:
    case: Case
    last_message_at: datetime | None
    student_waiting: bool

    def waiting_since(self) -> datetime | None:
        """Since when the student waits for an answer (None when they do not)."""
        if not self.student_waiting:
            return None
        return self.case.awaiting_since or self.last_message_at or self.case.created_at


def _held(member: Member):  # type: ignore[no-untyped-def]
    return (Case.psychologist_id == member.id) & (Case.status == CaseStatus.CLAIMED)


async def count_held(session: AsyncSession, member: Member) -> int:
    """How many cases a member holds now."""
    return await session.scalar(select(func.count()).select_from(Case).where(_held(member))) or 0


async def held_cases(
    session: AsyncSession, member: Member, *, limit: int = MINE_PAGE
) -> tuple[list[HeldCase], int]:
    """The cases a psychologist holds, urgent first, and how many they hold in all."""
    if member.role != Role.PSYCHOLOGIST or not member.active:
        raise PsychologistsOnly()
    total = await count_held(session, member)
    cases = list((await session.scalars(select(Case).where(_held(member)))).all())
    if not cases:
        return [], total
    ids = [case.id for case in cases]
    spoken = CaseMessage.author.in_((Author.STUDENT, Author.PSYCHOLOGIST))
    latest = (
        select(CaseMessage.case_id, func.max(CaseMessage.created_at).label("at"))
        .where(CaseMessage.case_id.in_(ids), spoken)
        .group_by(CaseMessage.case_id)
        .subquery()
    )
    rows = await session.execute(
        select(CaseMessage.case_id, CaseMessage.author, CaseMessage.created_at)
        .join(
            latest,
            (CaseMessage.case_id == latest.c.case_id) & (CaseMessage.created_at == latest.c.at),
        )
        .where(spoken)
    )
    last_at: dict[int, datetime] = {}
    waiting: dict[int, bool] = {}
    for case_id, author, at in rows.all():
        last_at[case_id] = at
        # Two messages of the same instant: an answer among them means nobody waits.
        waiting[case_id] = waiting.get(case_id, True) and author == Author.STUDENT
    held = [HeldCase(c, last_at.get(c.id), waiting.get(c.id, False)) for c in cases]

    def order(item: HeldCase) -> tuple[int, int, float, float]:
        since = item.waiting_since()
        return (
            item.case.priority_rank,
            0 if since is not None else 1,
            since.timestamp() if since is not None else 0.0,
            item.case.created_at.timestamp(),
        )

    held.sort(key=order)
    return held[:limit], total


async def local_time(session: AsyncSession, case: Case, at: datetime | None) -> str | None:
    """A moment as the case's region reads it ("07.12 14:05"), like the case's history."""
    if at is None:
        return None
    region = await session.get(Region, case.region_id) if case.region_id else None
    try:
        zone = ZoneInfo(region.timezone if region else "Asia/Almaty")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return at.astimezone(zone).strftime("%d.%m %H:%M")
