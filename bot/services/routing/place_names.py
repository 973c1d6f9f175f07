"""Places of cases for their cards: region, district and school names, read in bulk.

Who a case goes to (its pool) is decided in one place: bot.services.routing.pool_policy."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Case, District, Region, School

_PLACES = "trustline_places"  # the places read in this session, kept alive
_PLACES_OF = "trustline_places_of"  # the cases whose places were read


async def load_places(session: AsyncSession, cases: Iterable[Case]) -> None:
    """Read the region, district and school of many cases in one query (not three per
    case); the place_names calls that follow find them in the session.

    The identity map holds objects weakly: without a reference these places were read
    again for every card of a notification, and the region again for the working hours
    and the emergency numbers. Kept for the session (one update), they are read once.
    """
    kept = session.info.setdefault(_PLACES, set())
    done: set[int] = session.info.setdefault(_PLACES_OF, set())
    wanted = {
        c.id
        for c in cases
        if c.id is not None and c.id not in done and (c.region_id or c.district_id or c.school_id)
    }
    if not wanted:
        return
    rows = await session.execute(
        select(Region, District, School)
        .select_from(Case)
        .outerjoin(Region, Region.id == Case.region_id)
        .outerjoin(District, District.id == Case.district_id)
        .outerjoin(School, School.id == Case.school_id)
        .where(Case.id.in_(wanted))
        .execution_options(autoflush=False)  # a read: the caller's changes flush as before
    )
    for row in rows:
        kept.update(place for place in row if place is not None)
    done.update(wanted)


async def place_names(session: AsyncSession, case: Case) -> tuple[str, str]:
    """(district name, school name) for a case card; "—" where unknown."""
    await load_places(session, [case])
    district = await session.get(District, case.district_id) if case.district_id else None
    school = await session.get(School, case.school_id) if case.school_id else None
    region = await session.get(Region, case.region_id) if case.region_id else None
    district_name = district.name if district else (region.name if region else "—")
    return district_name, school.name if school else "—"
