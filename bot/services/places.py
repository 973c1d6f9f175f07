"""Regions and districts, for the student who came without a poster."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import District, Region, Student


async def list_regions(session: AsyncSession) -> list[Region]:
    return list(
        (await session.scalars(select(Region).order_by(Region.country, Region.name))).all()
    )


async def list_districts(session: AsyncSession, region_id: int) -> list[District]:
    query = select(District).where(District.region_id == region_id).order_by(District.name)
    return list((await session.scalars(query)).all())


async def choose_region(session: AsyncSession, student: Student, region_id: int) -> Region | None:
    region = await session.get(Region, region_id)
    if region is not None:
        student.region_id = region.id
        student.district_id = None
        student.school_id = None
    return region


async def choose_district(
    session: AsyncSession, student: Student, district_id: int
) -> District | None:
    district = await session.get(District, district_id)
    if district is not None:
        student.district_id = district.id
        student.region_id = district.region_id
        student.school_id = None
    return district
