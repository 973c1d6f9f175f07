"""Statistics for supervisors: figures the education department sees without asking a school.

Every figure is about the cases *opened* in the period (a cohort) and their state now:
how many, by category and priority, how many are still open, how many nobody has answered
yet, how fast the first answer came, deadline breaches and escalations, outcomes of the
closed ones; beside them, poster scans in the period's weeks. Counting happens in SQL; the
median and 90th percentile are taken in Python from per-case durations, which carry no
content and no code. Nothing here reads an encrypted column.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import TypeVarTuple

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Case, District, Member, Poster, PosterScan, Region, School
from bot.domain import CaseStatus, Country
from bot.services.reporting.periods import Period, zone


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default; q=0.5 is the median)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class Figures:
    """One row of statistics: the whole scope, a district or a school."""

    cases: int = 0
    open: int = 0
    unanswered: int = 0  # not closed and never answered
    breaches: int = 0
    escalations: int = 0
    scans: int = 0
    posters: int = 0
    by_category: Counter[str] = field(default_factory=Counter)
    by_priority: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    answer_seconds: list[float] = field(default_factory=list)

    @property
    def answered(self) -> int:
        return len(self.answer_seconds)

    @property
    def closed(self) -> int:
        return self.cases - self.open

    @property
    def median_answer(self) -> timedelta | None:
        value = percentile(self.answer_seconds, 0.5)
        return None if value is None else timedelta(seconds=value)

    @property
    def p90_answer(self) -> timedelta | None:
        value = percentile(self.answer_seconds, 0.9)
        return None if value is None else timedelta(seconds=value)

    def add(self, other: Figures) -> None:
        self.cases += other.cases
        self.open += other.open
        self.unanswered += other.unanswered
        self.breaches += other.breaches
        self.escalations += other.escalations
        self.scans += other.scans
        self.posters += other.posters
        self.by_category.update(other.by_category)
        self.by_priority.update(other.by_priority)
        self.outcomes.update(other.outcomes)
        self.answer_seconds.extend(other.answer_seconds)


@dataclass
class SchoolFigures:
    school_id: int
    name: str
    figures: Figures


@dataclass
class DistrictFigures:
    district_id: int
    name: str
    figures: Figures
    schools: list[SchoolFigures]
    # Cases that know their district but no school (the student picked a district).
    without_school: Figures = field(default_factory=Figures)


@dataclass(frozen=True, slots=True)
class Scope:
    """What a supervisor may see: one district, one region, or every region (both None)."""

    region_id: int | None
    name: str | None
    country: str
    tz: tzinfo
    district_id: int | None = None


@dataclass
class RegionStats:
    scope: Scope
    period: Period
    total: Figures
    districts: list[DistrictFigures]
    # Cases in scope with no district known (the student skipped the region question).
    without_district: Figures = field(default_factory=Figures)

    @property
    def schools(self) -> list[SchoolFigures]:
        return [school for district in self.districts for school in district.schools]


async def scope_for(
    session: AsyncSession, region_id: int | None, district_id: int | None = None
) -> Scope:
    """The scope of a supervisor bound to a region (or a district of it). Without a region:
    all regions, in the time zone and school calendar of the first region (the two
    countries' clocks differ by one hour, their terms by days)."""
    if region_id is not None:
        region = await session.get(Region, region_id)
    else:
        region = await session.scalar(select(Region).order_by(Region.id).limit(1))
        district_id = None
    country = region.country if region is not None else Country.KZ.value
    tz = zone(region.timezone if region is not None else None)
    name = region.name if region is not None and region_id is not None else None
    if district_id is not None:
        district = await session.get(District, district_id)
        name = district.name if district is not None else name
    return Scope(region_id, name, country, tz, district_id)


def scope_of(member: Member) -> tuple[int | None, int | None]:
    """(region, district) a supervisor's statistics are limited to."""
    return member.region_id, member.district_id if member.region_id is not None else None


_Columns = TypeVarTuple("_Columns")


def _in_scope(query: Select[*_Columns], scope: Scope) -> Select[*_Columns]:
    if scope.district_id is not None:
        return query.where(Case.district_id == scope.district_id)
    if scope.region_id is None:
        return query
    return query.where(Case.region_id == scope.region_id)


async def compute(session: AsyncSession, scope: Scope, period: Period) -> RegionStats:
    """Figures for the scope, each district and each school in it, for one period."""
    start, end = period.bounds(scope.tz)
    places = await _places(session, scope)
    buckets: dict[tuple[int | None, int | None], Figures] = {}

    def bucket(district_id: int | None, school_id: int | None) -> Figures:
        return buckets.setdefault((district_id, school_id), Figures())

    closed = Case.status == CaseStatus.CLOSED
    never_answered = case((and_(~closed, Case.first_answer_at.is_(None)), 1), else_=0)
    grouped = _in_scope(
        select(
            Case.district_id,
            Case.school_id,
            Case.category,
            Case.priority,
            Case.status,
            Case.outcome,
            func.count(),
            func.sum(never_answered),
            func.sum(Case.deadline_breaches),
            func.sum(Case.escalations),
        )
        .where(Case.created_at >= start, Case.created_at < end)
        .group_by(
            Case.district_id,
            Case.school_id,
            Case.category,
            Case.priority,
            Case.status,
            Case.outcome,
        ),
        scope,
    )
    for row in (await session.execute(grouped)).all():
        district_id, school_id, category, priority, status, outcome, n, unans, br, esc = row
        figures = bucket(district_id, school_id)
        figures.cases += n
        figures.unanswered += int(unans or 0)
        figures.breaches += int(br or 0)
        figures.escalations += int(esc or 0)
        figures.by_category[category] += n
        figures.by_priority[priority] += n
        if status == CaseStatus.CLOSED:
            if outcome is not None:
                figures.outcomes[outcome] += n
        else:
            figures.open += n

    durations = _in_scope(
        select(Case.district_id, Case.school_id, Case.created_at, Case.first_answer_at).where(
            Case.created_at >= start, Case.created_at < end, Case.first_answer_at.is_not(None)
        ),
        scope,
    )
    for district_id, school_id, created_at, answered_at in await session.execute(durations):
        if answered_at is None:  # excluded by the query; the column itself is nullable
            continue
        seconds = max(0.0, (answered_at - created_at).total_seconds())
        bucket(district_id, school_id).answer_seconds.append(seconds)

    await _add_posters(session, scope, period, start, end, bucket)
    return _roll_up(scope, period, places, buckets)


async def _places(
    session: AsyncSession, scope: Scope
) -> list[tuple[int, str, int | None, str | None]]:
    """(district id, district name, school id, school name) for every school in scope, and
    each district once with no school (districts without schools still show)."""
    query = (
        select(District.id, District.name, School.id, School.name, Region.name)
        .join(Region, Region.id == District.region_id)
        .outerjoin(School, School.district_id == District.id)
        .order_by(Region.id, District.name, School.name)
    )
    if scope.district_id is not None:
        query = query.where(District.id == scope.district_id)
    elif scope.region_id is not None:
        query = query.where(District.region_id == scope.region_id)
    rows: list[tuple[int, str, int | None, str | None]] = []
    for district_id, district_name, school_id, school_name, region_name in await session.execute(
        query
    ):
        label = (
            district_name if scope.region_id is not None else (f"{region_name} · {district_name}")
        )
        rows.append((district_id, label, school_id, school_name))
    return rows


async def _add_posters(
    session: AsyncSession,
    scope: Scope,
    period: Period,
    start: datetime,
    end: datetime,
    bucket: Callable[[int | None, int | None], Figures],
) -> None:
    if scope.district_id is not None:
        region_filter = [District.id == scope.district_id]
    elif scope.region_id is not None:
        region_filter = [District.region_id == scope.region_id]
    else:
        region_filter = []
    weeks = period.iso_weeks()
    if weeks:
        scans = (
            select(School.district_id, Poster.school_id, func.sum(PosterScan.count))
            .join(Poster, Poster.id == PosterScan.poster_id)
            .join(School, School.id == Poster.school_id)
            .join(District, District.id == School.district_id)
            .where(PosterScan.iso_week.in_(weeks), *region_filter)
            .group_by(School.district_id, Poster.school_id)
        )
        for district_id, school_id, total in await session.execute(scans):
            bucket(district_id, school_id).scans += int(total or 0)
    hanging = (
        select(School.district_id, Poster.school_id, func.count())
        .join(School, School.id == Poster.school_id)
        .join(District, District.id == School.district_id)
        .where(
            Poster.created_at < end,
            or_(Poster.retired_at.is_(None), Poster.retired_at >= start),
            *region_filter,
        )
        .group_by(School.district_id, Poster.school_id)
    )
    for district_id, school_id, count in await session.execute(hanging):
        bucket(district_id, school_id).posters += int(count)


def _roll_up(
    scope: Scope,
    period: Period,
    places: list[tuple[int, str, int | None, str | None]],
    buckets: dict[tuple[int | None, int | None], Figures],
) -> RegionStats:
    total = Figures()
    for figures in buckets.values():
        total.add(figures)
    districts: dict[int, DistrictFigures] = {}
    for district_id, district_name, school_id, school_name in places:
        district = districts.get(district_id)
        if district is None:
            unplaced = buckets.get((district_id, None), Figures())
            district = districts[district_id] = DistrictFigures(
                district_id, district_name, Figures(), [], unplaced
            )
            district.figures.add(unplaced)
        if school_id is not None and school_name is not None:
            school = buckets.get((district_id, school_id), Figures())
            district.schools.append(SchoolFigures(school_id, school_name, school))
            district.figures.add(school)
    without_district = Figures()
    for (bucket_district_id, _school_id), figures in buckets.items():
        if bucket_district_id is None:
            without_district.add(figures)
    return RegionStats(scope, period, total, list(districts.values()), without_district)


# --- a psychologist's own workload -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Workload:
    open: int
    closed: int
    closed_since: int  # closed on or after `since`
    median_answer: timedelta | None


async def workload(session: AsyncSession, member: Member, since: datetime) -> Workload:
    """A psychologist's own cases only: open now, closed, and their median first answer."""
    mine = Case.psychologist_id == member.id
    closed = Case.status == CaseStatus.CLOSED
    row = (
        await session.execute(
            select(
                func.sum(case((closed, 0), else_=1)),
                func.sum(case((closed, 1), else_=0)),
                func.sum(case((and_(closed, Case.closed_at >= since), 1), else_=0)),
            ).where(mine)
        )
    ).one()
    pairs = await session.execute(
        select(Case.created_at, Case.first_answer_at).where(
            mine, Case.first_answer_at.is_not(None)
        )
    )
    seconds = [max(0.0, (b - a).total_seconds()) for a, b in pairs if b is not None]
    median = percentile(seconds, 0.5)
    return Workload(
        open=int(row[0] or 0),
        closed=int(row[1] or 0),
        closed_since=int(row[2] or 0),
        median_answer=None if median is None else timedelta(seconds=median),
    )
