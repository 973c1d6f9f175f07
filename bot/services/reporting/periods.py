"""Reporting periods: week, month, school term and school year, in a region's local time.

School terms (четверть / чейрек / тоқсан). Both countries teach in four terms from
1 September to the end of May; the ministries move the holidays by a few days every year.
We put each boundary *inside* the holidays, so every teaching day lands in its own term
whatever the year's exact order, and terms tile the calendar with no gaps:

| term   | Kazakhstan        | Kyrgyzstan        | holidays the boundary sits in         |
| ------ | ----------------- | ----------------- | ------------------------------------- |
| 1      | 1 Sep – 31 Oct    | 1 Sep – 6 Nov     | autumn: KZ ~28 Oct–5 Nov, KG ~4–10 Nov |
| 2      | 1 Nov – 31 Dec    | 7 Nov – 31 Dec    | winter: ~30 Dec – 8/12 Jan            |
| 3      | 1 Jan – 24 Mar    | 1 Jan – 20 Mar    | spring: KZ ~20–30 Mar, KG around Nooruz |
| 4      | 25 Mar – 31 May   | 21 Mar – 31 May   | summer                                |
| summer | 1 Jun – 31 Aug    | 1 Jun – 31 Aug    | (students still write in summer)      |

The school year runs from 1 September to 31 August. Weeks are ISO weeks (Monday first).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.domain import Country


class PeriodKind(StrEnum):
    WEEK = "week"
    MONTH = "month"
    TERM = "term"
    YEAR = "year"


SUMMER = "summer"

# (month, day) each term starts, per country; the first is always 1 September.
SCHOOL_TERMS: dict[str, tuple[tuple[int, int, str], ...]] = {
    Country.KZ: ((9, 1, "1"), (11, 1, "2"), (1, 1, "3"), (3, 25, "4"), (6, 1, SUMMER)),
    Country.KG: ((9, 1, "1"), (11, 7, "2"), (1, 1, "3"), (3, 21, "4"), (6, 1, SUMMER)),
}
DEFAULT_TIMEZONE = "Asia/Bishkek"


@dataclass(frozen=True, slots=True)
class Period:
    """Local calendar days [start, end) of one week, month, term or school year."""

    kind: PeriodKind
    start: date
    end: date
    term: str | None = None  # "1".."4" or "summer" for a term

    def bounds(self, tz: tzinfo) -> tuple[datetime, datetime]:
        """The period as UTC instants [start, end), midnight to midnight in `tz`."""
        return (
            datetime.combine(self.start, time(), tz).astimezone(UTC),
            datetime.combine(self.end, time(), tz).astimezone(UTC),
        )

    def iso_weeks(self) -> list[str]:
        """Scan-count weeks ("2026-W48") that belong to the period: those whose Monday is in
        it, so a week is never counted in two months."""
        monday = self.start + timedelta(days=(7 - self.start.weekday()) % 7)
        weeks = []
        while monday < self.end:
            year, week, _ = monday.isocalendar()
            weeks.append(f"{year}-W{week:02d}")
            monday += timedelta(days=7)
        return weeks

    @property
    def month_key(self) -> str:
        return f"{self.start.year}-{self.start.month:02d}"

    def previous(self, country: str) -> Period:
        return period_containing(self.kind, self.start - timedelta(days=1), country)


def zone(name: str | None) -> tzinfo:
    try:
        return ZoneInfo(name or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def school_year_start(day: date) -> int:
    return day.year if day.month >= 9 else day.year - 1


def _term_starts(country: str, year: int) -> list[tuple[date, str]]:
    """Term starts of the school year beginning 1 September `year`, plus the next year's."""
    table = SCHOOL_TERMS.get(country, SCHOOL_TERMS[Country.KZ])
    starts = [
        (date(year if month >= 9 else year + 1, month, day), name) for month, day, name in table
    ]
    starts.append((date(year + 1, 9, 1), "1"))
    return starts


def _add_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def period_containing(kind: PeriodKind, day: date, country: str) -> Period:
    """The week, month, term or school year that contains local day `day`."""
    if kind == PeriodKind.WEEK:
        start = day - timedelta(days=day.weekday())
        return Period(kind, start, start + timedelta(days=7))
    if kind == PeriodKind.MONTH:
        start = day.replace(day=1)
        return Period(kind, start, _add_month(start))
    year = school_year_start(day)
    if kind == PeriodKind.YEAR:
        return Period(kind, date(year, 9, 1), date(year + 1, 9, 1))
    starts = _term_starts(country, year)
    for (start, name), (end, _next) in zip(starts, starts[1:], strict=False):
        if start <= day < end:
            return Period(kind, start, end, name)
    raise AssertionError("terms tile the school year")  # unreachable: the table has no gaps


def months_of(period: Period) -> list[Period]:
    """Calendar months overlapping the period (clipped to it), in order."""
    months = []
    start = period.start
    while start < period.end:
        end = min(_add_month(start.replace(day=1)), period.end)
        months.append(Period(PeriodKind.MONTH, start, end))
        start = end
    return months


def local_today(now: datetime, tz: tzinfo) -> date:
    return now.astimezone(tz).date()
