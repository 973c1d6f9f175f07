"""Working hours of a region's psychologists, in the region's own time zone.

A student who writes at night is not told "a psychologist will answer" and left waiting in
silence: they learn when the answer can come and that 111 answers around the clock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Case, Region
from bot.delivery.notices import Text

log = logging.getLogger(__name__)


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


async def after_hours_note(session: AsyncSession, case: Case, now: datetime) -> Text | None:
    """The student's note when a case opens outside working hours; None within them.

    A case without a region (the student skipped choosing one) gets no promise of a time.
    """
    region = await session.get(Region, case.region_id) if case.region_id else None
    if region is None:
        return None
    opening = next_opening(region, now)
    if opening is None:
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
