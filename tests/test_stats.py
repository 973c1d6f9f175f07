"""Statistics on a seeded database match figures worked out by hand (see tests/stats_seed)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from bot.app import App
from bot.domain import Category, Country, Outcome, Priority, Role
from bot.services.reporting import stats
from bot.services.reporting.periods import PeriodKind, months_of, period_containing
from tests.stats_seed import add_member, seed

NOVEMBER = period_containing(PeriodKind.MONTH, date(2026, 11, 15), Country.KZ)


async def _november(app: App, region_id: int | None, district_id: int | None = None):
    async with app.sessionmaker() as session:
        scope = await stats.scope_for(session, region_id, district_id)
        return await stats.compute(session, scope, NOVEMBER)


async def test_region_figures_match_hand_count(app: App) -> None:
    async with app.sessionmaker() as session, session.begin():
        s = await seed(session)
    result = await _november(app, s.region.id)
    total = result.total
    # c1..c8; c9 and c10 fall outside November in Almaty time, c11 is in another region.
    assert total.cases == 8
    assert total.by_category == {
        Category.BULLYING: 3,
        Category.VIOLENCE: 1,
        Category.DISTRESS: 1,
        Category.SUICIDE_SELF_HARM: 1,
        Category.OTHER: 1,
        Category.HOME_ABUSE: 1,
    }
    assert total.by_priority == {Priority.URGENT: 2, Priority.HIGH: 2, Priority.NORMAL: 4}
    assert total.open == 4  # c2, c4, c7, c8
    assert total.unanswered == 2  # c4, c8 (c6 was closed without an answer)
    assert total.breaches == 3 and total.escalations == 2
    assert total.outcomes == {
        Outcome.RESOLVED: 1,
        Outcome.REFERRED_POLICE: 1,
        Outcome.REFERRED_MEDICAL: 1,
        Outcome.NOT_A_CASE: 1,
    }
    # First answers after 5, 10, 30, 60, 120 minutes.
    assert total.answered == 5
    assert total.median_answer == timedelta(minutes=30)
    # 90th percentile, linear: rank 0.9 * 4 = 3.6 → 60 + 0.6 * (120 - 60) = 96 minutes.
    assert total.p90_answer == timedelta(minutes=96)
    # Scans in weeks starting in November: 4 + 3 (S1) + 2 (S2); the October week is out.
    assert total.scans == 9
    assert total.posters == 4  # the poster retired in October no longer hangs


async def test_district_and_school_rows(app: App) -> None:
    async with app.sessionmaker() as session, session.begin():
        s = await seed(session)
    result = await _november(app, s.region.id)
    assert [d.name for d in result.districts] == ["Байзақ ауданы", "Тараз қаласы"]
    baizak, taraz = result.districts
    assert baizak.figures.cases == 0 and baizak.figures.posters == 1
    assert baizak.figures.scans == 0
    assert [school.name for school in baizak.schools] == ["Сарыкемер орта мектебі"]
    # Тараз: c1..c7 (c7 named the district but no school); c8 named no district at all.
    assert taraz.figures.cases == 7
    assert taraz.without_school.cases == 1
    assert result.without_district.cases == 1
    by_name = {school.name: school.figures for school in taraz.schools}
    s1 = by_name["№5 мектеп-гимназия"]
    assert (s1.cases, s1.open, s1.unanswered, s1.breaches, s1.escalations) == (4, 2, 1, 3, 2)
    # S1 answers after 10, 30, 120 minutes: median 30, p90 at rank 1.8 → 30 + 0.8 * 90 = 102.
    assert s1.median_answer == timedelta(minutes=30)
    assert s1.p90_answer == timedelta(minutes=102)
    assert (s1.scans, s1.posters) == (7, 2)
    s2 = by_name["Абай атындағы №12 мектеп"]
    assert (s2.cases, s2.open, s2.unanswered, s2.answered, s2.scans) == (2, 0, 0, 1, 2)
    assert s2.median_answer == s2.p90_answer == timedelta(minutes=5)


async def test_district_supervisor_sees_only_the_district(app: App) -> None:
    async with app.sessionmaker() as session, session.begin():
        s = await seed(session)
    result = await _november(app, s.region.id, s.baizak.id)
    assert [d.name for d in result.districts] == ["Байзақ ауданы"]
    assert result.total.cases == 0 and result.total.posters == 1


async def test_supervisor_without_region_sees_every_region(app: App) -> None:
    async with app.sessionmaker() as session, session.begin():
        s = await seed(session)
    result = await _november(app, None)
    assert result.total.cases == 9  # c1..c8 and the Kyrgyz region's c11
    assert result.total.breaches == 3 + 7
    assert len(result.districts) == 3
    assert any(d.name == f"{s.other_region.name} · Сокулук району" for d in result.districts)


async def test_psychologist_workload_is_their_own(app: App) -> None:
    async with app.sessionmaker() as session, session.begin():
        psychologist = await add_member(session, app.rt, 700, Role.PSYCHOLOGIST)
        other = await add_member(session, app.rt, 701, Role.PSYCHOLOGIST)
        s = await seed(session, psychologist_id=psychologist.id)
        # One closed case of theirs (answered after 20 min), one of a colleague.
        for code, member in (("c1", psychologist), ("c3", other)):
            s.cases[code].psychologist_id = member.id
    async with app.sessionmaker() as session:
        mine = await stats.workload(session, psychologist, since=s.cases["c1"].created_at)
        theirs = await stats.workload(session, other, since=s.cases["c1"].created_at)
    assert (mine.open, mine.closed, mine.closed_since) == (2, 1, 1)  # c2, c7 open; c1 closed
    # c1 after 30 min, c2 after 120, c7 after 60: median 60 minutes.
    assert mine.median_answer == timedelta(minutes=60)
    assert (theirs.open, theirs.closed) == (0, 1)
    assert theirs.median_answer == timedelta(minutes=10)


@pytest.mark.parametrize(
    ("country", "day", "term", "start", "end"),
    [
        (Country.KZ, date(2026, 10, 31), "1", date(2026, 9, 1), date(2026, 11, 1)),
        (Country.KZ, date(2026, 11, 1), "2", date(2026, 11, 1), date(2027, 1, 1)),
        (Country.KZ, date(2027, 3, 24), "3", date(2027, 1, 1), date(2027, 3, 25)),
        (Country.KZ, date(2027, 5, 31), "4", date(2027, 3, 25), date(2027, 6, 1)),
        (Country.KZ, date(2027, 7, 15), "summer", date(2027, 6, 1), date(2027, 9, 1)),
        (Country.KG, date(2026, 11, 3), "1", date(2026, 9, 1), date(2026, 11, 7)),
        (Country.KG, date(2027, 3, 21), "4", date(2027, 3, 21), date(2027, 6, 1)),
    ],
)
def test_school_terms(country: str, day: date, term: str, start: date, end: date) -> None:
    period = period_containing(PeriodKind.TERM, day, country)
    assert (period.term, period.start, period.end) == (term, start, end)


def test_terms_tile_the_school_year() -> None:
    for country in Country:
        day, seen = date(2026, 9, 1), []
        while day < date(2027, 9, 1):
            period = period_containing(PeriodKind.TERM, day, country)
            assert period.start <= day < period.end
            seen.append(period.term)
            day = period.end
        assert seen == ["1", "2", "3", "4", "summer"]


def test_weeks_months_and_years() -> None:
    week = period_containing(PeriodKind.WEEK, date(2026, 11, 26), Country.KZ)
    assert (week.start, week.end) == (date(2026, 11, 23), date(2026, 11, 30))
    assert week.iso_weeks() == ["2026-W48"]
    assert NOVEMBER.iso_weeks() == [f"2026-W{n}" for n in range(45, 50)]
    year = period_containing(PeriodKind.YEAR, date(2027, 2, 1), Country.KG)
    assert (year.start, year.end) == (date(2026, 9, 1), date(2027, 9, 1))
    assert [m.month_key for m in months_of(year)][::11] == ["2026-09", "2027-08"]
    assert year.previous(Country.KG).start == date(2025, 9, 1)
