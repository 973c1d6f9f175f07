"""The monthly summary: on the first morning of a month, every region's supervisors get last
month's facts through the outbox — schools with cases, schools with deadline breaches,
schools whose posters were never scanned — without asking any school.

Sent once per scope and month, whatever the number of instances: the `monthly_summaries`
row is inserted in the same transaction as the outbox rows, and its primary key lets only
one transaction commit. A month is summarised only for supervisors who were already there
before it ended (a new installation does not report a month it never saw).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import Member, MonthlySummary
from bot.delivery import notices
from bot.delivery.notices import Notice
from bot.domain import Role
from bot.services.reporting import stats
from bot.services.reporting.periods import Period, PeriodKind, period_containing
from bot.services.reporting.stats_text import Translate, period_label, scope_label
from bot.services.runtime import Runtime
from bot.services.security import audit

log = logging.getLogger(__name__)

SEND_FROM_HOUR = 9  # local time: a summary is not a reason to wake anyone
LISTED = 15  # schools named per list; the rest are counted
TEXT_LIMIT = 3900  # Telegram allows 4096 characters per message


def scope_key(region_id: int | None) -> str:
    return f"region:{region_id}" if region_id is not None else "all"


async def _supervisors(session: AsyncSession, region_id: int | None) -> list[Member]:
    """Active supervisors bound to the region (region None: those bound to none)."""
    bound = Member.region_id.is_(None) if region_id is None else Member.region_id == region_id
    rows = await session.scalars(
        select(Member).where(Member.active.is_(True), Member.role == Role.SUPERVISOR, bound)
    )
    return list(rows)


def _names(tr: Translate, lang: str, items: list[str]) -> str:
    if not items:
        return tr(lang, "no schools")
    shown = ", ".join(items[:LISTED])
    if len(items) > LISTED:
        shown += " " + tr(lang, "and {count} more", count=len(items) - LISTED)
    return shown


def summary_message(rt: Runtime, lang: str, result: stats.RegionStats) -> str:
    """The summary in one language. Figures for supervisors are exact (nothing leaves the
    department here); `/export` is the file with small counts suppressed."""
    tr = rt.tr
    schools = result.schools
    with_cases = [s for s in schools if s.figures.cases]
    with_breaches = [s for s in schools if s.figures.breaches]
    silent = [s for s in schools if s.figures.posters and not s.figures.scans]
    f = result.total
    lines = [
        tr(
            lang,
            "📊 Monthly summary: {place}, {period}",
            place=scope_label(tr, lang, result.scope),
            period=period_label(tr, lang, result.period),
        ),
        "",
        tr(
            lang,
            "Cases: {cases}; still open: {open}; not answered yet: {unanswered}.",
            cases=f.cases,
            open=f.open,
            unanswered=f.unanswered,
        ),
        "",
        tr(
            lang,
            "Schools with cases ({count} of {total}): {names}",
            count=len(with_cases),
            total=len(schools),
            names=_names(
                tr,
                lang,
                [
                    f"{s.name} ({s.figures.cases})"
                    for s in sorted(with_cases, key=lambda s: -s.figures.cases)
                ],
            ),
        ),
        "",
        tr(
            lang,
            "Schools with deadline breaches ({count}): {names}",
            count=len(with_breaches),
            names=_names(
                tr,
                lang,
                [
                    f"{s.name} ({s.figures.breaches})"
                    for s in sorted(with_breaches, key=lambda s: -s.figures.breaches)
                ],
            ),
        ),
        "",
        tr(
            lang,
            "Schools whose posters had no scans ({count}): {names}",
            count=len(silent),
            names=_names(tr, lang, [s.name for s in silent]),
        ),
        "",
        tr(lang, "Chart: /stats. Table for every school and month: /export."),
    ]
    text = "\n".join(lines)
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1] + "…"


def _last_month(now: datetime, scope: stats.Scope) -> Period | None:
    """Last month, in the scope's local time, once it is past SEND_FROM_HOUR today."""
    local = now.astimezone(scope.tz)
    if local.day == 1 and local.hour < SEND_FROM_HOUR:
        return None
    this_month = period_containing(PeriodKind.MONTH, local.date(), scope.country)
    return this_month.previous(scope.country)


async def send_for_region(session: AsyncSession, rt: Runtime, region_id: int | None) -> int:
    """Summarise last month for one region's supervisors (or, region None, for those of
    every region); 0 if it was sent already or is not due. Returns the messages queued."""
    now = rt.now()
    scope = await stats.scope_for(session, region_id)
    month = _last_month(now, scope)
    if month is None:
        return 0
    key = scope_key(region_id)
    if await session.get(MonthlySummary, (key, month.month_key)) is not None:
        return 0
    _start, month_end = month.bounds(scope.tz)
    members = await _supervisors(session, region_id)
    recipients = [m for m in members if m.created_at < month_end]
    if not recipients:
        return 0
    try:
        async with session.begin_nested():
            session.add(
                MonthlySummary(
                    scope=key, month=month.month_key, sent_at=now, recipients=len(recipients)
                )
            )
    except IntegrityError:  # another instance got there first
        return 0
    # A district supervisor hears about their district only.
    by_scope: dict[int | None, list[Member]] = defaultdict(list)
    for member in recipients:
        by_scope[member.district_id if region_id is not None else None].append(member)
    for district_id, group in by_scope.items():
        sub_scope = await stats.scope_for(session, region_id, district_id)
        result = await stats.compute(session, sub_scope, month)
        texts: dict[str, str] = {}
        for member in group:
            text = texts.get(member.language) or summary_message(rt, member.language, result)
            texts[member.language] = text
            notices.send(session, rt, Notice(member, text), now=now)
    await audit.record(
        session,
        actor="system",
        event="monthly_summary_sent",
        now=now,
        detail={"scope": key, "month": month.month_key, "recipients": len(recipients)},
    )
    log.info(
        "monthly_summary_sent scope=%s month=%s recipients=%d",
        key,
        month.month_key,
        len(recipients),
    )
    return len(recipients)


async def send_due(sessionmaker: async_sessionmaker[AsyncSession], rt: Runtime) -> int:
    """One pass over every region with supervisors, one transaction per region (so one
    region's failure does not hold back the others). Returns the messages queued."""
    async with sessionmaker() as session:
        regions = set(
            await session.scalars(
                select(Member.region_id).where(
                    Member.active.is_(True), Member.role == Role.SUPERVISOR
                )
            )
        )
    queued = 0
    for region_id in sorted(regions, key=lambda r: (r is None, r or 0)):
        try:
            async with sessionmaker() as session, session.begin():
                queued += await send_for_region(session, rt, region_id)
        except Exception:
            log.exception("monthly_summary_failed scope=%s", scope_key(region_id))
    return queued


CHECK_SECONDS = 600.0


async def run_forever(
    sessionmaker: async_sessionmaker[AsyncSession],
    rt: Runtime,
    on_queued: Callable[[], None],
    *,
    every: float = CHECK_SECONDS,
) -> None:
    """The worker inside `trustline run`: look every few minutes whether a month is due.
    Every instance runs it; the once-per-month row decides which one sends."""
    while True:
        try:
            if await send_due(sessionmaker, rt):
                on_queued()  # committed: wake the outbox sender
        except asyncio.CancelledError:
            raise
        except Exception:  # a database hiccup must not stop the summaries for good
            log.exception("monthly_summary_cycle_failed")
        await asyncio.sleep(every)
