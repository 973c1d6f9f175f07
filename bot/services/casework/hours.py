"""Working hours of a region's psychologists, in the region's own time zone.

A student who writes at night is not told "a psychologist will answer" and left waiting in
silence: they learn when the answer can come and that 111 answers around the clock. The
clock alone does not decide it: while psychologists are still answering (one of the case's
pool answered within the last hour, or its holder did), nobody is told they are not at work.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Case, CaseMessage, Region
from bot.delivery.notices import Text
from bot.domain import Author, CaseStatus
from bot.services.routing import pool_policy

log = logging.getLogger(__name__)

# A psychologist who answered within this time is at work, whatever the clock says.
ACTIVE_WITHIN = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Opening:
    """The next moment psychologists are at work, in the region's local time."""

    at: datetime
    today: bool


def _zone(region: Region) -> ZoneInfo | None:
    try:
        return ZoneInfo(region.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        # A typo in the org data must not break a student's acknowledgement.
        log.warning("region_timezone_unknown region=%s", region.id)
        return None


def within_hours(start: int, end: int, hour: int) -> bool:
    """Whether a local `hour` lies in [start, end); a span may wrap past midnight."""
    if start == end:
        return True  # configured as around the clock
    if start < end:
        return start <= hour < end
    return hour >= start or hour < end


def next_opening(region: Region, now: datetime) -> Opening | None:
    """None while the region's psychologists are at work (or its zone is unknown)."""
    zone = _zone(region)
    if zone is None:
        return None
    start, end = region.work_start_hour % 24, region.work_end_hour % 24
    local = now.astimezone(zone)
    if within_hours(start, end, local.hour):
        return None
    opening = local.replace(hour=start, minute=0, second=0, microsecond=0)
    if opening <= local:
        opening += timedelta(days=1)
    return Opening(at=opening, today=opening.date() == local.date())


async def psychologists_answering(session: AsyncSession, case: Case, now: datetime) -> bool:
    """Whether someone answered this case within the hour, or the holder or a psychologist
    of its pool answered a case they hold within the hour. Reads authors and times only.
    """
    since = now - ACTIVE_WITHIN
    who = {m.id for m in await pool_policy.pool_members(session, case)}
    if case.status == CaseStatus.CLAIMED and case.psychologist_id is not None:
        who.add(case.psychologist_id)
    held_by_them = select(Case.id).where(
        Case.status == CaseStatus.CLAIMED, Case.psychologist_id.in_(who)
    )
    answered = await session.scalar(
        select(CaseMessage.id)
        .where(
            CaseMessage.author == Author.PSYCHOLOGIST,
            CaseMessage.created_at >= since,
            or_(
                CaseMessage.case_id == case.id,
                CaseMessage.case_id.in_(held_by_them) & CaseMessage.member_id.in_(who),
            ),
        )
        .limit(1)
    )
    return answered is not None


async def after_hours_note(session: AsyncSession, case: Case, now: datetime) -> Text | None:
    """The student's note outside working hours; None within them, and None while
    psychologists are still answering (`psychologists_answering`).

    A case without a region (the student skipped choosing one) gets no promise of a time.
    """
    region = await session.get(Region, case.region_id) if case.region_id else None
    if region is None:
        return None
    opening = next_opening(region, now)
    if opening is None:
        return None
    if await psychologists_answering(session, case, now):
        return None
    time = opening.at.strftime("%H:%M")
    if opening.today:
        return Text(
            "Psychologists are not at work right now. Your message is saved; expect an answer "
            "after {time} today. If you need to talk to someone now, call 111: it answers "
            "around the clock and is free.",
            time=time,
        )
    return Text(
        "Psychologists are not at work right now. Your message is saved; expect an answer "
        "after {time} tomorrow. If you need to talk to someone now, call 111: it answers "
        "around the clock and is free.",
        time=time,
    )
