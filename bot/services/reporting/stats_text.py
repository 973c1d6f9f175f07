"""Statistics in words: period names, durations and the short summary under the chart."""

from __future__ import annotations

from datetime import date, timedelta

from bot.domain import Outcome
from bot.i18n import Translate as BotTranslate
from bot.services.labels import N_, OUTCOME_LABELS
from bot.services.reporting import stats
from bot.services.reporting.periods import SUMMER, Period, PeriodKind

Translate = BotTranslate

MONTH_NAMES = (
    N_("January"),
    N_("February"),
    N_("March"),
    N_("April"),
    N_("May"),
    N_("June"),
    N_("July"),
    N_("August"),
    N_("September"),
    N_("October"),
    N_("November"),
    N_("December"),
)


def format_duration(tr: Translate, lang: str, value: timedelta | None) -> str:
    if value is None:
        return "—"
    minutes = max(0, round(value.total_seconds() / 60))
    if minutes < 60:
        return tr(lang, "{minutes} min", minutes=minutes)
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return tr(lang, "{hours} h {minutes} min", hours=hours, minutes=minutes)
    days = hours // 24
    return tr.plural(lang, "{days} day", "{days} days", days, days=days)


def _day(value: date) -> str:
    return value.strftime("%d.%m.%Y")


def period_label(tr: Translate, lang: str, period: Period) -> str:
    """E.g. "November 2026 (01.11.2026 – 30.11.2026)" in the reader's language."""
    last = period.end - timedelta(days=1)
    days = f"{_day(period.start)} – {_day(last)}"
    if period.kind == PeriodKind.WEEK:
        return tr(lang, "Week {start} – {end}", start=_day(period.start), end=_day(last))
    if period.kind == PeriodKind.MONTH:
        month = tr(lang, MONTH_NAMES[period.start.month - 1])
        name = tr(lang, "{month} {year}", month=month, year=period.start.year)
    elif period.kind == PeriodKind.TERM and period.term == SUMMER:
        name = tr(lang, "Summer holidays {year}", year=period.start.year)
    elif period.kind == PeriodKind.TERM:
        name = tr(
            lang,
            "Term {number}, school year {start}/{end}",
            number=period.term,
            start=_school_year(period)[0],
            end=_school_year(period)[1],
        )
    else:
        name = tr(lang, "School year {start}/{end}", start=period.start.year, end=period.end.year)
    return f"{name} ({days})"


def _school_year(period: Period) -> tuple[int, int]:
    year = period.start.year if period.start.month >= 9 else period.start.year - 1
    return year, year + 1


def scope_label(tr: Translate, lang: str, scope: stats.Scope) -> str:
    return scope.name if scope.name else tr(lang, "All regions")


def summary_text(tr: Translate, lang: str, result: stats.RegionStats) -> str:
    """The few lines sent with the chart (a photo caption: well under 1024 characters)."""
    f = result.total
    lines = [
        f"{scope_label(tr, lang, result.scope)} · {period_label(tr, lang, result.period)}",
        tr(
            lang,
            "Cases: {cases}; still open: {open}; not answered yet: {unanswered}.",
            cases=f.cases,
            open=f.open,
            unanswered=f.unanswered,
        ),
        tr(
            lang,
            "First answer: median {median}; 90% within {p90}",
            median=format_duration(tr, lang, f.median_answer),
            p90=format_duration(tr, lang, f.p90_answer),
        ),
        tr(
            lang,
            "Deadline breaches: {breaches}; escalations: {escalations}.",
            breaches=f.breaches,
            escalations=f.escalations,
        ),
    ]
    closed = [(o, f.outcomes[o]) for o in Outcome if f.outcomes[o]]
    if closed:
        parts = "; ".join(f"{tr(lang, OUTCOME_LABELS[o])}: {n}" for o, n in closed)
        lines.append(tr(lang, "Closed: {outcomes}", outcomes=parts))
    schools = result.schools
    silent = sum(1 for s in schools if s.figures.posters and not s.figures.scans)
    lines.append(
        tr(
            lang,
            "Poster scans: {scans}; schools whose posters had no scans: {silent} of {schools}.",
            scans=f.scans,
            silent=silent,
            schools=len(schools),
        )
    )
    return "\n".join(lines)
