"""Where a student is: the region and district they pick, or the school of a poster.

A place given after the student wrote moves their open case (cases.student_placed)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import District, Region, Student
from bot.services.casework import cases
from bot.services.runtime import Runtime


async def list_regions(session: AsyncSession) -> list[Region]:
    return list(
        (await session.scalars(select(Region).order_by(Region.country, Region.name))).all()
    )


async def list_districts(session: AsyncSession, region_id: int) -> list[District]:
    query = select(District).where(District.region_id == region_id).order_by(District.name)
    return list((await session.scalars(query)).all())


async def choose_region(
    session: AsyncSession, rt: Runtime, student: Student, region_id: int
) -> Region | None:
    region = await session.get(Region, region_id)
    if region is not None:
        student.region_id = region.id
        student.district_id = None
        student.school_id = None
        await cases.student_placed(session, rt, student)
    return region


async def choose_district(
    session: AsyncSession, rt: Runtime, student: Student, district_id: int
) -> District | None:
    district = await session.get(District, district_id)
    if district is not None:
        student.district_id = district.id
        student.region_id = district.region_id
        student.school_id = None
        await cases.student_placed(session, rt, student)
    return district


async def choose_school(
    session: AsyncSession, rt: Runtime, student: Student, school_id: int
) -> None:
    """A scanned poster names the student's school."""
    student.school_id = school_id
    student.district_id = None
    student.region_id = None
    await cases.student_placed(session, rt, student)
