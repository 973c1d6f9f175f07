"""Routing: school → district pool → region pool → the region's supervisors."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Case, CaseRecusal, District, Member, Region, School
from bot.domain import Role


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
    """Read the places of many cases at once (three queries, not three per case); the
    place_names calls that follow find them in the session."""
    cases = list(cases)
    kept = session.info.setdefault("trustline_places", set())
    for model, ids in ((District, {c.district_id for c in cases}),
                       (School, {c.school_id for c in cases}),
                       (Region, {c.region_id for c in cases})):
        wanted = [i for i in ids if i is not None]
        if wanted:
            kept.update((await session.scalars(select(model).where(model.id.in_(wanted)))).all())


async def place_names(session: AsyncSession, case: Case) -> tuple[str, str]:
    """(district name, school name) for a case card; "—" where unknown."""
    district = await session.get(District, case.district_id) if case.district_id else None
    school = await session.get(School, case.school_id) if case.school_id else None
    region = await session.get(Region, case.region_id) if case.region_id else None
    # The identity map holds objects weakly: without a reference these places were read
    # again for every card of a notification, and the region again for the working hours
    # and the emergency numbers. Kept for the session (one update), they are read once.
    session.info.setdefault("trustline_places", set()).update(
        p for p in (district, school, region) if p is not None)
    district_name = district.name if district else (region.name if region else "—")
    return district_name, school.name if school else "—"
