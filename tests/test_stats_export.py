"""The CSV for open reporting: UTF-8 with BOM, one row per school and month, and no cell
ever holds a count from 1 to 4 (suppression holds for every cell, whatever the data)."""

from __future__ import annotations

import csv
import io
import random
import uuid
from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.app import App
from bot.db.models import Case, District, Poster, PosterScan, Region, School
from bot.domain import PRIORITY_RANK, CaseStatus, Category, Country, Outcome, Priority
from bot.services.posters.posters import iso_week
from bot.services.reporting import stats, stats_export
from bot.services.reporting.periods import PeriodKind, period_containing
from tests.stats_seed import local, seed

SCHOOL_YEAR = period_containing(PeriodKind.YEAR, date(2026, 11, 15), Country.KZ)


def parse(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "UTF-8 byte order mark first"
    text = data[3:].decode("utf-8")
    return list(csv.reader(io.StringIO(text), delimiter=stats_export.DELIMITER))


def assert_suppressed(rows: list[list[str]]) -> None:
    for row in rows[1:]:
        for cell in row:
            if cell.isdigit():
                assert not 1 <= int(cell) <= 4, f"small count published: {row}"


async def _export(
    app: App, region_id: int | None, lang: str = "ru", today: date = date(2026, 11, 30)
) -> list[list[str]]:
    async with app.sessionmaker() as session:
        scope = await stats.scope_for(session, region_id)
        data = await stats_export.export_csv(session, app.rt, scope, lang, SCHOOL_YEAR, today)
    return parse(data)


async def test_export_of_the_seeded_region(app: App) -> None:
    async with app.sessionmaker() as session, session.begin():
        s = await seed(session)
    rows = await _export(app, s.region.id)
    header, body = rows[0], rows[1:]
    assert header[:4] == ["Месяц", "Район", "Школа", "Обращения"]
    assert all(len(row) == len(header) for row in body)
    # September to November: three schools, plus one row each month for cases with a
    # district but no school and one for cases with no district, when there were any.
    months = [row[0] for row in body]
    assert sorted(set(months)) == ["2026-09", "2026-10", "2026-11"]
    november = {row[2]: row for row in body if row[0] == "2026-11"}
    assert set(november) == {
        "№5 мектеп-гимназия",
        "Абай атындағы №12 мектеп",
        "Сарыкемер орта мектебі",
        "(школа не указана)",
    }
    s1 = november["№5 мектеп-гимназия"]
    assert s1[1] == "Тараз қаласы"
    assert s1[3] == "<5"  # four cases
    assert s1[header.index("Медиана времени до первого ответа (ч:мм)")] == ""  # < 5 answered
    assert s1[header.index("Сканирования плакатов")] == "7"
    assert november["Сарыкемер орта мектебі"][3] == "0"
    assert_suppressed(rows)
    october = {row[2]: row for row in body if row[0] == "2026-10"}
    assert october["№5 мектеп-гимназия"][3] == "<5"  # c9, late on 31 October in Almaty
    assert october["№5 мектеп-гимназия"][header.index("Сканирования плакатов")] == "10"
    flat = "\n".join(";".join(row) for row in rows)
    for case in s.cases.values():
        assert case.code not in flat


async def test_large_counts_are_exact_and_small_ones_hidden(app: App) -> None:
    """Random cases over many schools: each published number equals the true count when
    it is 0 or 5 and more; every 1–4 is `<5`. Several seeds, every cell checked."""
    async with app.sessionmaker() as session, session.begin():
        region = Region(country="KZ", name="Түркістан облысы", timezone="Asia/Almaty")
        session.add(region)
        await session.flush()
        district = District(region_id=region.id, name="Сайрам ауданы")
        session.add(district)
        await session.flush()
        schools = [
            School(district_id=district.id, name=f"№{n} мектеп", languages="kk")
            for n in range(1, 9)
        ]
        session.add_all(schools)
        await session.flush()
        rng = random.Random(20261123)
        truth: dict[tuple[str, str], int] = {}
        for school in schools:
            poster = Poster(
                school_id=school.id, classroom="5А", languages="kk", created_at=local(9, 1)
            )
            session.add(poster)
            await session.flush()
            # Many cases for some schools, a few for others, none for some.
            for month in (9, 10, 11):
                n = rng.choice([0, 1, 2, 3, 4, 5, 6, 9, 14])
                truth[(school.name, f"2026-{month:02d}")] = n
                for _ in range(n):
                    created = local(month, rng.randint(1, 28), rng.randint(8, 20))
                    priority = rng.choice(list(Priority))
                    closed = rng.random() < 0.5
                    session.add(
                        Case(
                            code=uuid.uuid4().hex[:8].upper(),
                            school_id=school.id,
                            district_id=district.id,
                            region_id=region.id,
                            language="kk",
                            status=CaseStatus.CLOSED if closed else CaseStatus.OPEN,
                            priority=priority,
                            priority_rank=PRIORITY_RANK[priority],
                            category=rng.choice(list(Category)),
                            outcome=rng.choice(list(Outcome)) if closed else None,
                            muted=False,
                            unreachable=False,
                            created_at=created,
                            first_answer_at=created + timedelta(minutes=rng.randint(1, 600))
                            if rng.random() < 0.8
                            else None,
                            escalation_level=0,
                            escalations=rng.randint(0, 2),
                            deadline_breaches=rng.randint(0, 3),
                            message_count=1,
                        )
                    )
                scans = rng.choice([0, 1, 3, 4, 7, 30])
                if scans:
                    session.add(
                        PosterScan(
                            poster_id=poster.id, iso_week=iso_week(local(month, 10)), count=scans
                        )
                    )
    rows = await _export(app, region.id, lang="kk")
    assert_suppressed(rows)
    cases_col = 3
    for row in rows[1:]:
        n = truth[(row[2], row[0])]
        assert row[cases_col] == ("<5" if 1 <= n <= 4 else str(n)), row
    assert any(row[cases_col] == "<5" for row in rows[1:])
    assert any(row[cases_col].isdigit() and int(row[cases_col]) >= 5 for row in rows[1:])


@given(
    counts=st.lists(st.integers(min_value=0, max_value=40), min_size=30, max_size=30),
    seconds=st.lists(st.floats(min_value=0, max_value=10 * 24 * 3600), max_size=12),
)
def test_every_cell_of_a_row_is_suppressed(counts: list[int], seconds: list[float]) -> None:
    it = iter(counts)
    figures = stats.Figures(
        cases=next(it),
        open=next(it),
        unanswered=next(it),
        breaches=next(it),
        escalations=next(it),
        scans=next(it),
        posters=next(it),
        answer_seconds=seconds,
    )
    for category in Category:
        figures.by_category[category] = next(it)
    for priority in Priority:
        figures.by_priority[priority] = next(it)
    for outcome in Outcome:
        figures.outcomes[outcome] = next(it)
    row = stats_export.row("2026-11", "Тараз", "№5", figures)
    for cell in row:
        assert not (cell.isdigit() and 1 <= int(cell) <= 4)
        assert cell != "" or len(seconds) < stats_export.MIN_CASES_FOR_TIMES
    published = [c for c in row[3:] if c.isdigit() or c == "<5"]
    assert len(published) == len(row) - 3 - 2  # every count, not the two times


def test_hours_minutes() -> None:
    assert stats_export.hours_minutes(timedelta(minutes=3)) == "0:03"
    assert stats_export.hours_minutes(timedelta(hours=26, minutes=5)) == "26:05"
    assert stats_export.hours_minutes(None) == ""
