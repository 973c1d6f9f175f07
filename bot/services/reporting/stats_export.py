"""Open reporting: a CSV of aggregates per school per month that can leave the department.

How counts are hidden (complementary suppression, bot/services/reporting/suppression.py):
- each month has a row per school, then a total row "(all schools)" per district, and a
  row "(all districts)" for the whole scope when it has more than one district;
- every count from 1 to 4 is written `x`;
- then, wherever a hidden count could still be worked out by subtraction (a row's cases
  minus its other categories, priorities or outcomes; a district's total minus its other
  schools; hidden cells under a total of 0; or any chain of these), more counts are written
  `x`: the smallest of the line that gave it away, until no hidden count can be recovered
  exactly. So `x` says nothing about its value (0, 3 or 40 alike); the small ones are not
  marked apart, since "<5" would tell a reader that each is 1 to 4, and with a total of 8
  over two of them, that both are 4;
- times to first answer are given only when at least five cases were answered and that
  count is shown, as `H:MM` (a time, never mistaken for a count).
No content and no case codes exist at this level.

The file is UTF-8 with a byte order mark and `;` between columns: that is what Excel with
Russian, Kazakh or Kyrgyz regional settings opens as columns with Cyrillic intact
(LibreOffice and Google Sheets detect it too).
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import Category, Outcome, Priority
from bot.services.labels import CATEGORY_LABELS, OUTCOME_LABELS, PRIORITY_LABELS
from bot.services.reporting import stats, suppression
from bot.services.reporting.periods import Period, months_of
from bot.services.reporting.stats_text import Translate
from bot.services.reporting.suppression import Line
from bot.services.runtime import Runtime

HIDDEN = "x"  # a count from 1 to 4, or one hidden so that none of those can be worked out
MIN_CASES_FOR_TIMES = 5
DELIMITER = ";"

# One row's cells, keyed by column: the counts published, in the order of `header`, and
# counts never published that the published ones add up with (a reader can reason with
# them as unknowns: e.g. cases = answered + unanswered + closed without an answer).
Column = str | tuple[str, str]
CLOSED, OPEN_ANSWERED, CLOSED_ANSWERED, CLOSED_UNANSWERED, NO_OUTCOME = (
    "closed",
    "open answered",
    "closed answered",
    "closed unanswered",
    "closed without outcome",
)


def published_counts(f: stats.Figures) -> dict[Column, int]:
    return {
        "cases": f.cases,
        **{("priority", p.value): f.by_priority[p] for p in Priority},
        **{("category", c.value): f.by_category[c] for c in Category},
        "open": f.open,
        "unanswered": f.unanswered,
        "answered": f.answered,
        "breaches": f.breaches,
        "escalations": f.escalations,
        **{("outcome", o.value): f.outcomes[o] for o in Outcome},
        "scans": f.scans,
    }


def unpublished_counts(f: stats.Figures) -> dict[Column, int]:
    open_answered = f.open - f.unanswered
    closed_answered = f.answered - open_answered
    counts: dict[Column, int] = {
        CLOSED: f.closed,
        OPEN_ANSWERED: open_answered,
        CLOSED_ANSWERED: closed_answered,
        CLOSED_UNANSWERED: f.closed - closed_answered,
    }
    # Every closed case has an outcome; should one not, the remainder is an unknown too.
    without_outcome = f.closed - sum(f.outcomes[o] for o in Outcome)
    if without_outcome:
        counts[NO_OUTCOME] = without_outcome
    return counts


def row_lines(row: Hashable, counts: Mapping[Column, int]) -> list[Line]:
    """How one row's counts add up (`counts` holds both published and unpublished)."""

    def cells(*columns: Column) -> tuple[tuple[Hashable, Column], ...]:
        return tuple((row, column) for column in columns if column in counts)

    return [
        Line((row, "cases"), cells(*(("priority", p.value) for p in Priority))),
        Line((row, "cases"), cells(*(("category", c.value) for c in Category))),
        Line((row, "cases"), cells("open", CLOSED)),
        Line((row, CLOSED), cells(*(("outcome", o.value) for o in Outcome), NO_OUTCOME)),
        Line((row, "open"), cells("unanswered", OPEN_ANSWERED)),
        Line((row, "answered"), cells(OPEN_ANSWERED, CLOSED_ANSWERED)),
        Line((row, CLOSED), cells(CLOSED_ANSWERED, CLOSED_UNANSWERED)),
    ]


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


@dataclass(frozen=True, slots=True)
class Place:
    """One row of a month: a school, cases without a school or district, or a total."""

    key: Hashable
    district: str
    school: str
    figures: stats.Figures


def places(tr: Translate, lang: str, result: stats.RegionStats) -> tuple[list[Place], list[Line]]:
    """A month's rows in file order (each district's schools, then the district's total;
    the whole scope's total last when there is more than one district), and the lines a
    reader can add up: each total row is the sum of the rows above it, column by column."""
    no_school = tr(lang, "(school not given)")
    all_schools = tr(lang, "(all schools)")
    rows: list[Place] = []
    totals: list[tuple[Place, list[Place]]] = []
    for d, district in enumerate(result.districts):
        members = [
            Place(("school", d, s), district.name, school.name, school.figures)
            for s, school in enumerate(district.schools)
        ]
        if district.without_school.cases:
            members.append(
                Place(("no school", d), district.name, no_school, district.without_school)
            )
        if not members:
            continue
        total = Place(("district", d), district.name, all_schools, _sum(members))
        rows += [*members, total]
        totals.append((total, members))
    upper = [total for total, _ in totals]
    if result.without_district.cases:
        unplaced = Place(
            ("no district",),
            tr(lang, "(district not given)"),
            no_school,
            result.without_district,
        )
        rows.append(unplaced)
        upper.append(unplaced)
    if len(upper) > 1:
        scope = Place(("scope",), tr(lang, "(all districts)"), all_schools, _sum(upper))
        rows.append(scope)
        totals.append((scope, upper))
    lines: list[Line] = []
    for total, members in totals:
        columns = {*_counts(total.figures), *(c for m in members for c in _counts(m.figures))}
        for column in columns:
            lines.append(Line((total.key, column), tuple((m.key, column) for m in members)))
    return rows, lines


def _sum(members: list[Place]) -> stats.Figures:
    total = stats.Figures()
    for member in members:
        total.add(member.figures)
    return total


def _counts(f: stats.Figures) -> dict[Column, int]:
    return {**published_counts(f), **unpublished_counts(f)}


def month_rows(tr: Translate, lang: str, result: stats.RegionStats) -> list[list[str]]:
    """A month's rows as published, hidden counts as `x` (see the module docstring)."""
    rows, lines = places(tr, lang, result)
    values: dict[Hashable, int] = {}
    hidden: set[Hashable] = set()
    for place in rows:
        for column, value in published_counts(place.figures).items():
            values[(place.key, column)] = value
        for column, value in unpublished_counts(place.figures).items():
            values[(place.key, column)] = value
            hidden.add((place.key, column))
        lines += row_lines(place.key, _counts(place.figures))
    # A line over a column some rows lack (an outcome-less remainder) holds them as 0.
    for line in lines:
        for cell in line.cells:
            if cell not in values:
                values[cell] = 0
                hidden.add(cell)
    suppressed = suppression.suppress(values, lines, hidden).cells
    month = result.period.month_key

    def shown(cell: Hashable) -> str:
        return HIDDEN if cell in suppressed else str(values[cell])

    out = []
    for place in rows:
        cells = {column: shown((place.key, column)) for column in published_counts(place.figures)}
        f = place.figures
        times = f.answered >= MIN_CASES_FOR_TIMES and cells["answered"] == str(f.answered)
        counts = list(cells.values())
        split = list(cells).index("answered") + 1  # the two times follow `answered`
        out.append(
            [
                month,
                place.district,
                place.school,
                *counts[:split],
                hours_minutes(f.median_answer) if times else "",
                hours_minutes(f.p90_answer) if times else "",
                *counts[split:],
            ]
        )
    return out


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
        # Suppression is pure Python over the whole month (seconds for a large region):
        # off the event loop, so the bot keeps answering meanwhile.
        writer.writerows(await asyncio.to_thread(month_rows, rt.tr, lang, result))
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def export_filename(scope: stats.Scope, year: Period) -> str:
    place = f"region{scope.region_id}" if scope.region_id is not None else "all"
    return f"trustline-{place}-{year.start.year}-{year.end.year}.csv"
