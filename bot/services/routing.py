"""Routing: school → district pool → region pool → the region's supervisors."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Case, CaseRecusal, District, Member, Region, School
from bot.domain import Role

_PLACES = "trustline_places"  # the places read in this session, kept alive
_PLACES_OF = "trustline_places_of"  # the cases whose places were read


async def place_of_school(session: AsyncSession, school_id: int) -> tuple[int, int] | None:
    """(district_id, region_id) of a school."""
    row = (
        await session.execute(
            select(District.id, District.region_id)
            .join(School, School.district_id == District.id)
            .where(School.id == school_id)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def pool_members(session: AsyncSession, case: Case) -> list[Member]:
    """Active psychologists of the case's pool (district first, else region), minus recusals.

    A case without a district falls to the region's psychologists of any district. When
    nobody is in either pool, the region's supervisors receive the case.
    """
    recused = select(CaseRecusal.member_id).where(CaseRecusal.case_id == case.id)
    base = select(Member).where(
        Member.active.is_(True), Member.role == Role.PSYCHOLOGIST, Member.id.not_in(recused)
    )
    if case.pool_district_id is not None:
        found = (
            await session.scalars(base.where(Member.district_id == case.pool_district_id))
        ).all()
        if found:
            return list(found)
    if case.pool_region_id is not None:
        found = (
            await session.scalars(
                base.where(
                    and_(Member.region_id == case.pool_region_id, Member.district_id.is_(None))
                )
            )
        ).all()
        if found:
            return list(found)
        if case.pool_district_id is None:
            # The student named a region but no district: every psychologist of the region
            # may take it (bot.services.queue.pool_clause), so all of them are told.
            found = (
                await session.scalars(base.where(Member.region_id == case.pool_region_id))
            ).all()
            if found:
                return list(found)
    return await region_supervisors(session, case.pool_region_id)


async def region_supervisors(session: AsyncSession, region_id: int | None) -> list[Member]:
    query = select(Member).where(Member.active.is_(True), Member.role == Role.SUPERVISOR)
    if region_id is not None:
        query = query.where(or_(Member.region_id == region_id, Member.region_id.is_(None)))
    return list((await session.scalars(query)).all())


async def load_places(session: AsyncSession, cases: Iterable[Case]) -> None:
    """Read the region, district and school of many cases in one query (not three per
    case); the place_names calls that follow find them in the session.

    The identity map holds objects weakly: without a reference these places were read
    again for every card of a notification, and the region again for the working hours
    and the emergency numbers. Kept for the session (one update), they are read once.
    """
    kept = session.info.setdefault(_PLACES, set())
    done: set[int] = session.info.setdefault(_PLACES_OF, set())
    wanted = {c.id for c in cases if c.id is not None and c.id not in done
              and (c.region_id or c.district_id or c.school_id)}
    if not wanted:
        return
    rows = await session.execute(
        select(Region, District, School).select_from(Case)
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
