"""Statistics: `/stats` and `/export` for supervisors, `/mystats` for psychologists.

Supervisors see their own region (or district); one bound to no region sees all. School
staff are told statistics are not theirs to see; students never reach these handlers (a
non-member's `/stats` goes on to the student's router like any other message).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import StatsPeriod
from bot.db.models import Member
from bot.domain import Role
from bot.services.reporting import stats, stats_export
from bot.services.reporting.periods import PeriodKind, local_today, period_containing
from bot.services.reporting.stats_text import format_duration, period_label, summary_text
from bot.services.runtime import Runtime
from handlers.answers import setup_middlewares, stale_button
from handlers.filters import is_member, is_supervisor, may_have_workload, private_chat

log = logging.getLogger(__name__)

CAPTION_LIMIT = 1024


router = setup_middlewares(Router(name=__name__))
router.message.filter(private_chat)

supervisors = Router(name=f"{__name__}.supervisors")
supervisors.message.filter(is_supervisor)
supervisors.callback_query.filter(is_supervisor)

own_workload = Router(name=f"{__name__}.workload")
own_workload.message.filter(may_have_workload)

refusals = Router(name=f"{__name__}.refusals")
refusals.message.filter(is_member)
refusals.callback_query.filter(is_member)

router.include_routers(supervisors, own_workload, refusals)

# Buttons: (kind, how many periods back).
CHOICES = (
    ((PeriodKind.WEEK, 0), (PeriodKind.MONTH, 0)),
    ((PeriodKind.MONTH, 1), (PeriodKind.TERM, 0)),
    ((PeriodKind.YEAR, 0),),
)

CHOSEN = {choice for row in CHOICES for choice in row}


def _choice_text(kind: PeriodKind, back: int) -> str:
    if kind == PeriodKind.WEEK:
        return _("This week")
    if kind == PeriodKind.MONTH:
        return _("Last month") if back else _("This month")
    if kind == PeriodKind.TERM:
        return _("This term")
    return _("This school year")


def period_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=_choice_text(kind, back),
                    callback_data=StatsPeriod(kind=kind, back=back).pack(),
                )
                for kind, back in row
            ]
            for row in CHOICES
        ]
    )


@supervisors.message(Command("stats"))
async def stats_start(message: Message) -> None:
    await message.answer(_("Statistics for which period?"), reply_markup=period_keyboard())


@supervisors.callback_query(StatsPeriod.filter())
async def stats_chosen(
    query: CallbackQuery,
    callback_data: StatsPeriod,
    callback_answer: CallbackAnswer,
    session: AsyncSession,
    rt: Runtime,
    member: Member,
) -> None:
    chosen = (callback_data.kind, callback_data.back)
    if chosen not in CHOSEN or not isinstance(query.message, Message):
        stale_button(callback_answer)
        return
    callback_answer.text = _("Preparing the chart…")
    scope = await stats.scope_for(session, *stats.scope_of(member))
    today = local_today(rt.now(), scope.tz)
    period = period_containing(callback_data.kind, today, scope.country)
    for _step in range(callback_data.back):
        period = period.previous(scope.country)
    result = await stats.compute(session, scope, period)
    lang = member.language
    # Rendering takes a moment of CPU: keep the event loop serving other chats meanwhile.
    from bot.services.reporting.charts import (
        render_stats_chart,
    )  # matplotlib: loaded on the first chart only

    png = await asyncio.to_thread(render_stats_chart, result, rt.tr, lang)
    text = summary_text(rt.tr, lang, result)
    photo = BufferedInputFile(png, filename="trustline-stats.png")
    if len(text) <= CAPTION_LIMIT:
        await query.message.answer_photo(photo, caption=text)
    else:
        await query.message.answer_photo(photo)
        await query.message.answer(text)
    log.info("stats_shown member=%s period=%s", member.id, period.kind)


@supervisors.message(Command("export"))
async def export(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    rt: Runtime,
    member: Member,
) -> None:
    scope = await stats.scope_for(session, *stats.scope_of(member))
    today = local_today(rt.now(), scope.tz)
    year = period_containing(PeriodKind.YEAR, today, scope.country)
    if command.args:
        wanted = command.args.strip().split("/")[0].split("-")[0]
        if not wanted.isdigit() or not 2000 <= int(wanted) <= year.start.year:
            await message.answer(
                _(
                    "Send /export for this school year, or /export 2025 for "
                    "the school year that began in September 2025."
                )
            )
            return
        year = period_containing(
            PeriodKind.YEAR, year.start.replace(year=int(wanted)), scope.country
        )
    data = await stats_export.export_csv(session, rt, scope, member.language, year, today)
    await message.answer_document(
        BufferedInputFile(data, filename=stats_export.export_filename(scope, year)),
        caption=_(
            "{period}: cases per school and month, with district totals. Counts from 1 "
            "to 4, and the counts that would let one of them be worked out by "
            "subtraction, are shown as x, so no child can be singled out; no case "
            "content or codes."
        ).format(period=period_label(rt.tr, member.language, year)),
    )
    log.info("stats_exported member=%s year=%s", member.id, year.start.year)


@own_workload.message(Command("mystats"))
async def my_workload(
    message: Message, session: AsyncSession, rt: Runtime, member: Member
) -> None:
    since = rt.now() - timedelta(days=30)
    mine = await stats.workload(session, member, since)
    await message.answer(
        _(
            "Your cases: {open} open, {closed} closed ({recent} in the last 30 days).\n"
            "Median time from a student's first message to the first answer: {median}."
        ).format(
            open=mine.open,
            closed=mine.closed,
            recent=mine.closed_since,
            median=format_duration(rt.tr, member.language, mine.median_answer),
        )
    )


@refusals.message(Command("stats", "export", "mystats"))
async def refuse(message: Message, member: Member) -> None:
    if member.role == Role.STAFF:
        await message.answer(
            _(
                "Statistics about cases are not available to school staff. "
                "You can see your school's poster scans with /scans."
            )
        )
    else:
        await message.answer(
            _(
                "Statistics for districts and schools are available to "
                "supervisors only. Your own workload: /mystats."
            )
        )


@refusals.callback_query(StatsPeriod.filter())
async def refuse_button(query: CallbackQuery, callback_answer: CallbackAnswer) -> None:
    stale_button(callback_answer)
