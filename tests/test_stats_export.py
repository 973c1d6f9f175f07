"""The CSV for open reporting: UTF-8 with BOM, one row per school and month with district and
scope totals, no cell ever holds a count from 1 to 4, and no hidden count can be recovered
from the others (complementary suppression; tests/test_stats_export_suppression.py has the
search that tries)."""

from __future__ import annotations

import csv
import io
import random
import uuid
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import App
from bot.db.models import Case, District, Poster, PosterScan, Region, School
from bot.domain import PRIORITY_RANK, CaseStatus, Category, Country, Outcome, Priority
from bot.services.posters.posters import iso_week
from bot.services.reporting import stats, stats_export
from bot.services.reporting.periods import PeriodKind, months_of, period_containing
from bot.services.reporting.suppression import Line
from tests.stats_seed import local, seed
from tests.test_stats_export_suppression import recoverable

SCHOOL_YEAR = period_containing(PeriodKind.YEAR, date(2026, 11, 15), Country.KZ)
SCOPE = stats.Scope(1, "Жамбыл облысы", "KZ", ZoneInfo("Asia/Almaty"))


def parse(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "UTF-8 byte order mark first"
    text = data[3:].decode("utf-8")
    return list(csv.reader(io.StringIO(text), delimiter=stats_export.DELIMITER))


def assert_suppressed(rows: list[list[str]]) -> None:
    for row in rows[1:]:
        for cell in row[3:]:
            assert cell.isdigit() or cell in ("x", "") or ":" in cell, row
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
    november = {(row[1], row[2]): row for row in body if row[0] == "2026-11"}
    assert list(november) == [
        ("Байзақ ауданы", "Сарыкемер орта мектебі"),
        ("Байзақ ауданы", "(все школы)"),
        ("Тараз қаласы", "Абай атындағы №12 мектеп"),
        ("Тараз қаласы", "№5 мектеп-гимназия"),
        ("Тараз қаласы", "(школа не указана)"),
        ("Тараз қаласы", "(все школы)"),
        ("(район не указан)", "(школа не указана)"),
        ("(все районы)", "(все школы)"),
    ]
    november = {row[2]: row for row in body if row[0] == "2026-11" and row[1] != "(все районы)"}
    s1 = november["№5 мектеп-гимназия"]
    assert s1[1] == "Тараз қаласы"
    assert s1[3] == "x"  # four cases
    assert s1[header.index("Медиана времени до первого ответа (ч:мм)")] == ""  # < 5 answered
    # 7 scans, hidden: the district's 9 minus 7 would give the other school's 2.
    scans = header.index("Сканирования плакатов")
    assert s1[scans] == "x"
    assert november["(все школы)"][scans] == "9"
    assert november["Абай атындағы №12 мектеп"][scans] == "x"
    assert november["Сарыкемер орта мектебі"][3] == "0"
    assert_suppressed(rows)
    october = {row[2]: row for row in body if row[0] == "2026-10"}
    assert october["№5 мектеп-гимназия"][3] == "x"  # c9, late on 31 October in Almaty
    assert october["№5 мектеп-гимназия"][header.index("Сканирования плакатов")] == "10"
    flat = "\n".join(";".join(row) for row in rows)
    for case in s.cases.values():
        assert case.code not in flat


async def test_large_counts_are_exact_and_small_ones_hidden(app: App) -> None:
    """Random cases over many schools: each published number of cases is the true count,
    never 1 to 4; every 1–4 is `x`, and some larger ones beside them."""
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
    shown = {"small": 0, "beside": 0, "exact": 0}
    for row in rows[1:]:
        if row[2] == "(барлық мектептер)":
            n = sum(v for (_, month), v in truth.items() if month == row[0])
        else:
            n = truth[(row[2], row[0])]
        if 1 <= n <= 4:
            assert row[cases_col] == "x", row
            shown["small"] += 1
        elif row[cases_col] == "x":  # hidden beside a small one
            shown["beside"] += 1
        else:
            assert row[cases_col] == str(n), row
            shown["exact"] += 1
    assert shown["small"] and shown["exact"], shown


# --- every hidden count, every derivation: generated months through month_rows ----------

STATES = ("open, unanswered", "open, answered", "closed, answered", "closed, unanswered")
CASES_COL, OPEN_COL, UNANSWERED_COL, ANSWERED_COL = 3, 16, 17, 18
PRIORITY_COLS = range(4, 4 + len(Priority))
CATEGORY_COLS = range(7, 7 + len(Category))
OUTCOME_COLS = range(23, 23 + len(Outcome))
COUNT_COLS = [*range(3, 19), *range(21, 30)]  # 19 and 20 are times
UNPUBLISHED = ("closed", "open answered", "closed answered", "closed unanswered")

case_draws = st.tuples(
    st.sampled_from(list(Priority)),
    st.sampled_from([Category.SUICIDE_SELF_HARM, Category.BULLYING, Category.DISTRESS]),
    st.sampled_from(STATES),
    st.sampled_from([Outcome.RESOLVED, Outcome.REFERRED_111]),
    st.integers(0, 2),  # deadline breaches
)
schools_of_cases = st.lists(st.lists(case_draws, max_size=6), min_size=1, max_size=2)


def figures_of(cases: list[tuple[Priority, Category, str, Outcome, int]]) -> stats.Figures:
    f = stats.Figures()
    for priority, category, state, outcome, breaches in cases:
        f.cases += 1
        f.by_priority[priority] += 1
        f.by_category[category] += 1
        f.breaches += breaches
        if state.startswith("open"):
            f.open += 1
        else:
            f.outcomes[outcome] += 1
        if state == "open, unanswered":
            f.unanswered += 1
        if state.endswith(", answered"):
            f.answer_seconds.append(600.0)
    return f


def truth(f: stats.Figures) -> dict[object, int]:
    """Every count of a row by column, and the ones the file never shows."""
    closed_answered = sum(1 for _ in f.answer_seconds) - (f.open - f.unanswered)
    return {
        CASES_COL: f.cases,
        **{col: f.by_priority[p] for col, p in zip(PRIORITY_COLS, Priority, strict=True)},
        **{col: f.by_category[c] for col, c in zip(CATEGORY_COLS, Category, strict=True)},
        OPEN_COL: f.open,
        UNANSWERED_COL: f.unanswered,
        ANSWERED_COL: f.answered,
        21: f.breaches,
        22: f.escalations,
        **{col: f.outcomes[o] for col, o in zip(OUTCOME_COLS, Outcome, strict=True)},
        29: f.scans,
        "closed": f.closed,
        "open answered": f.open - f.unanswered,
        "closed answered": closed_answered,
        "closed unanswered": f.closed - closed_answered,
    }


def identities(row: int) -> list[Line]:
    """What any reader knows adds up within a row of the file."""
    return [
        Line((row, CASES_COL), tuple((row, c) for c in PRIORITY_COLS)),
        Line((row, CASES_COL), tuple((row, c) for c in CATEGORY_COLS)),
        Line((row, CASES_COL), ((row, OPEN_COL), (row, "closed"))),
        Line((row, "closed"), tuple((row, c) for c in OUTCOME_COLS)),
        Line((row, OPEN_COL), ((row, UNANSWERED_COL), (row, "open answered"))),
        Line((row, ANSWERED_COL), ((row, "open answered"), (row, "closed answered"))),
        Line((row, "closed"), ((row, "closed answered"), (row, "closed unanswered"))),
    ]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(schools_of_cases, min_size=1, max_size=2), st.booleans())
def test_no_hidden_count_of_an_export_can_be_recovered(
    districts: list[list[list[tuple[Priority, Category, str, Outcome, int]]]],
    unplaced: bool,
) -> None:
    """Months of random cases through `month_rows`; then, from the published file alone and
    the sums a reader knows (each row's categories, priorities and states add up to its
    cases; each "(all schools)" row is its district's rows added up; "(all districts)" the
    districts'), the exhaustive search of test_stats_export_suppression finds no hidden
    count with a single possible value."""
    named = [
        stats.DistrictFigures(
            d,
            f"D{d}",
            stats.Figures(),
            [stats.SchoolFigures(s, f"S{d}.{s}", figures_of(c)) for s, c in enumerate(schools)],
        )
        for d, schools in enumerate(districts)
    ]
    without = figures_of(districts[0][0][:2]) if unplaced else stats.Figures()
    month = months_of(SCHOOL_YEAR)[2]
    result = stats.RegionStats(SCOPE, month, stats.Figures(), named, without)
    rows = stats_export.month_rows(lambda lang, text, **kw: text, "ru", result)
    figures: list[stats.Figures] = []
    values: dict[object, int] = {}
    seen: dict[object, int | str | None] = {}
    lines: list[Line] = []
    members: list[int] = []
    districts_rows: list[int] = []
    for i, row in enumerate(rows):
        assert len(row) == 30
        if row[2] == "(all schools)":
            f = stats.Figures()
            for m in members if row[1] != "(all districts)" else districts_rows:
                f.add(figures[m])
            group = members if row[1] != "(all districts)" else districts_rows
            for column in [*COUNT_COLS, *UNPUBLISHED]:
                lines.append(Line((i, column), tuple((m, column) for m in group)))
            if row[1] != "(all districts)":
                districts_rows.append(i)
            members = []
        elif row[1] == "(district not given)":
            f = without
            districts_rows.append(i)
        else:
            district, school = (int(n) for n in row[2][1:].split("."))
            f = named[district].schools[school].figures
            members.append(i)
        figures.append(f)
        for column, value in truth(f).items():
            values[(i, column)] = value
            seen[(i, column)] = None
        for column in COUNT_COLS:
            seen[(i, column)] = row[column] if row[column] == "x" else int(row[column])
            if row[column] != "x":
                assert int(row[column]) == values[(i, column)], (row, column)
                assert not 1 <= values[(i, column)] <= 4, (row, column)
        lines += identities(i)
    assert recoverable(seen, values, lines) == []


def test_hours_minutes() -> None:
    assert stats_export.hours_minutes(timedelta(minutes=3)) == "0:03"
    assert stats_export.hours_minutes(timedelta(hours=26, minutes=5)) == "26:05"
    assert stats_export.hours_minutes(None) == ""
