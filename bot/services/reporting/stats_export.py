"""Open reporting: a CSV of aggregates per school per month that can leave the department.

Any count from 1 to 4 is written `<5`, so no child can be singled out by a small number;
times to first answer are given only when at least five cases were answered, as `H:MM`
(a time, never mistaken for a count). No content and no case codes exist at this level.

The file is UTF-8 with a byte order mark and `;` between columns: that is what Excel with
Russian, Kazakh or Kyrgyz regional settings opens as columns with Cyrillic intact
(LibreOffice and Google Sheets detect it too).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import Category, Outcome, Priority
from bot.services.labels import CATEGORY_LABELS, OUTCOME_LABELS, PRIORITY_LABELS
from bot.services.reporting import stats
from bot.services.reporting.periods import Period, months_of
from bot.services.runtime import Runtime

SMALL = "<5"
MIN_CASES_FOR_TIMES = 5
DELIMITER = ";"


def suppress(count: int) -> str:
    """A count as it may be published: 1–4 become `<5`, zero stays zero."""
    return SMALL if 1 <= count < 5 else str(count)


def hours_minutes(value: timedelta | None) -> str:
    if value is None:
        return ""
    minutes = round(value.total_seconds() / 60)
    return f"{minutes // 60}:{minutes % 60:02d}"


def header(rt: Runtime, lang: str) -> list[str]:
    tr = rt.tr
    return [
        tr(lang, "Month"),
        tr(lang, "District"),
        tr(lang, "School"),
        tr(lang, "Cases"),
        *(tr(lang, PRIORITY_LABELS[p]) for p in Priority),
        *(tr(lang, CATEGORY_LABELS[c]) for c in Category),
        tr(lang, "Still open"),
        tr(lang, "Not answered yet"),
        tr(lang, "Answered"),
        tr(lang, "Median time to first answer (h:mm)"),
        tr(lang, "90% answered within (h:mm)"),
        tr(lang, "Deadline breaches"),
        tr(lang, "Escalations"),
        *(tr(lang, OUTCOME_LABELS[o]) for o in Outcome),
        tr(lang, "Poster scans"),
    ]


def row(month: str, district: str, school: str, f: stats.Figures) -> list[str]:
    enough = f.answered >= MIN_CASES_FOR_TIMES
    return [
        month,
        district,
        school,
        suppress(f.cases),
        *(suppress(f.by_priority[p]) for p in Priority),
        *(suppress(f.by_category[c]) for c in Category),
        suppress(f.open),
        suppress(f.unanswered),
        suppress(f.answered),
        hours_minutes(f.median_answer) if enough else "",
        hours_minutes(f.p90_answer) if enough else "",
        suppress(f.breaches),
        suppress(f.escalations),
        *(suppress(f.outcomes[o]) for o in Outcome),
        suppress(f.scans),
    ]


def _rows(rt: Runtime, lang: str, result: stats.RegionStats) -> Iterator[list[str]]:
    month = result.period.month_key
    no_school = rt.tr(lang, "(school not given)")
    for district in result.districts:
        for school in district.schools:
            yield row(month, district.name, school.name, school.figures)
        if district.without_school.cases:
            yield row(month, district.name, no_school, district.without_school)
    if result.without_district.cases:
        no_district = rt.tr(lang, "(district not given)")
        yield row(month, no_district, no_school, result.without_district)


async def export_csv(
    session: AsyncSession,
    rt: Runtime,
    scope: stats.Scope,
    lang: str,
    year: Period,
    today: date,
) -> bytes:
    """Every school of the scope, every month of the school year `year` up to `today`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=DELIMITER, lineterminator="\r\n")
    writer.writerow(header(rt, lang))
    for month in months_of(year):
        if month.start > today:
            break
        result = await stats.compute(session, scope, month)
        writer.writerows(_rows(rt, lang, result))
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def export_filename(scope: stats.Scope, year: Period) -> str:
    place = f"region{scope.region_id}" if scope.region_id is not None else "all"
    return f"trustline-{place}-{year.start.year}-{year.end.year}.csv"
