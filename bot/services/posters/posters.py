"""Classroom posters: printing, where a scanned token leads, retiring, and weekly scan counts.

A poster row is made for every printed poster and never deleted, so a poster keeps working
for as long as it hangs on a wall: a reprint makes new rows and leaves the old ones valid,
and a retired poster still routes its scans (it only stops being missed in /scans).

Scans are counted per poster per ISO week and nothing else: no time, no student, no case.
A case keeps its school, never the poster or the classroom.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert

from bot.db.models import District, Poster, PosterScan, Region, School
from bot.domain import EMERGENCY_NUMBERS, Country, Language
from bot.services.errors import InvalidInput, NotFound, ServiceError
from bot.services.posters.poster_tokens import (
    make_poster_token,
    parse_poster_code,
    poster_code,
    poster_link,
    read_poster_token,
)
from bot.services.runtime import Runtime
from bot.services.security import audit
from qr_posters import (
    ClassListError,
    ClassListProblem,
    PosterPage,
    PosterSheet,
    PosterText,
    parse_class_list,
)
from qr_posters.model import PAPERS, Paper


def render_posters(sheet: PosterSheet) -> bytes:
    """qr_posters.render_posters, imported on the first print job: the rendering stack
    (reportlab, fontTools, numpy) stays out of a bot that never prints (~30 MB)."""
    from qr_posters.render import render_posters as render

    return render(sheet)


DEFAULT_LANGUAGES = {Country.KG: ("ky", "ru"), Country.KZ: ("kk", "ru")}
SILENT_WEEKS = 4
REPORT_WEEKS = 8


class PosterNotFound(NotFound):
    """No poster with that code at the member's school."""

    def __init__(self, code: str = "") -> None:
        super().__init__("no such poster at this school")
        self.code = code


class SchoolNotFound(NotFound):
    pass


class PrintFailed(ServiceError):
    """A QR code did not read back as its link, so nothing was printed or kept."""


class BadLanguages(InvalidInput):
    """Languages must be one or two of ky, kk, ru."""


class BadPaper(InvalidInput):
    pass


class BadClassList(InvalidInput):
    """The class list cannot be printed; `problem` (a ClassListProblem) says why."""

    def __init__(self, error: ClassListError) -> None:
        super().__init__(str(error))
        self.problem = error.problem
        self.fragment = error.fragment


@dataclass(frozen=True, slots=True)
class PosterStart:
    poster_id: int
    school_id: int
    languages: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PrintedPoster:
    poster_id: int
    code: str
    classroom: str


@dataclass(frozen=True, slots=True)
class PrintOrder:
    """Poster rows made (flushed, so they have their ids) and the sheet their PDF renders."""

    school_id: int
    school_name: str
    languages: tuple[str, ...]
    paper: Paper
    posters: tuple[PrintedPoster, ...]
    sheet: PosterSheet


@dataclass(frozen=True, slots=True)
class PrintJob:
    school_name: str
    languages: tuple[str, ...]
    paper: Paper
    posters: tuple[PrintedPoster, ...]
    pdf: bytes


# --- scanning ---------------------------------------------------------------------------


def iso_week(moment: datetime) -> str:
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


async def record_scan(session: AsyncSession, poster_id: int, now: datetime) -> None:
    """Count one scan for the poster in this ISO week, atomically (two first scans of a week
    at once must not collide on the primary key)."""
    values = {"poster_id": poster_id, "iso_week": iso_week(now), "count": 1}
    dialect = session.get_bind().dialect.name
    statement: Insert
    if dialect == "postgresql":
        pg = pg_insert(PosterScan).values(**values)
        statement = pg.on_conflict_do_update(
            index_elements=["poster_id", "iso_week"], set_={"count": PosterScan.count + 1}
        )
    else:
        lite = sqlite_insert(PosterScan).values(**values)
        statement = lite.on_conflict_do_update(
            index_elements=["poster_id", "iso_week"], set_={"count": PosterScan.count + 1}
        )
    await session.execute(statement)


async def resolve_start(session: AsyncSession, rt: Runtime, token: str) -> PosterStart | None:
    """The poster behind a `/start` token (retired posters still route), counting the scan."""
    poster_id = read_poster_token(rt.vault.pseudonyms.poster, token)
    if poster_id is None:
        return None
    poster = await session.get(Poster, poster_id)
    if poster is None or await session.get(School, poster.school_id) is None:
        return None
    await record_scan(session, poster.id, rt.now())
    return PosterStart(poster.id, poster.school_id, tuple(poster.languages.split(",")))


# --- printing ---------------------------------------------------------------------------


async def school_country(session: AsyncSession, school: School) -> Country:
    country = await session.scalar(
        select(Region.country)
        .join(District, District.region_id == Region.id)
        .where(District.id == school.district_id)
    )
    if country is None:
        raise ValueError(f"school {school.id} is in no region")
    return Country(country)


async def default_languages(session: AsyncSession, school: School) -> tuple[str, ...]:
    """The school's own languages if it has a valid record, else its country's pair."""
    try:
        return parse_languages(school.languages)
    except BadLanguages:
        return DEFAULT_LANGUAGES[await school_country(session, school)]


def parse_languages(text: str | None) -> tuple[str, ...]:
    """ "ky,ru" → ("ky", "ru"): one or two distinct languages of ours, in the given order."""
    parts = [p.strip().lower() for p in (text or "").replace("+", ",").split(",") if p.strip()]
    known = {lang.value for lang in Language}
    if not 1 <= len(parts) <= 2 or len(set(parts)) != len(parts) or not set(parts) <= known:
        raise BadLanguages(f"languages must be one or two of {sorted(known)}")
    return tuple(parts)


def parse_paper(text: str | None) -> Paper:
    paper = (text or "a4").strip().lower()
    if paper not in PAPERS:
        raise BadPaper("paper must be a4 or a3")
    return paper


def parse_classes(text: str) -> tuple[str, ...]:
    try:
        return parse_class_list(text)
    except ClassListError as exc:
        raise BadClassList(exc) from exc


def poster_texts(rt: Runtime, languages: tuple[str, ...]) -> tuple[PosterText, ...]:
    return tuple(
        PosterText(
            headline=rt.tr(lang, "You are not alone"),
            purpose=(
                rt.tr(lang, "Bullied, hurt, scared, or just feeling low? Write to us."),
                rt.tr(
                    lang,
                    "Nobody will know who wrote. A psychologist answers in Telegram.",
                ),
            ),
            scan_hint=rt.tr(
                lang, "Point your phone camera at the code, or find the bot in Telegram:"
            ),
            call_label=rt.tr(lang, "Call free, day and night"),
        )
        for lang in languages
    )


async def order_posters(
    session: AsyncSession,
    rt: Runtime,
    school_id: int,
    classrooms: tuple[str, ...],
    languages: tuple[str, ...] | None = None,
    paper: Paper = "a4",
) -> PrintOrder:
    """Make a new poster row per classroom and gather everything their PDF needs, without
    rendering it (`render_order`, seconds of CPU: the bot does it after its transaction).

    Old posters of the same classrooms stay valid.
    """
    school = await session.get(School, school_id)
    if school is None:
        raise SchoolNotFound(f"no school with id {school_id}")
    if not classrooms:
        raise BadClassList(ClassListError(ClassListProblem.EMPTY))
    langs = languages or await default_languages(session, school)
    country = await school_country(session, school)
    now = rt.now()
    rows = [
        Poster(school_id=school.id, classroom=room, languages=",".join(langs), created_at=now)
        for room in classrooms
    ]
    session.add_all(rows)
    await session.flush()
    key = rt.vault.pseudonyms.poster
    printed = tuple(PrintedPoster(p.id, poster_code(p.id), p.classroom) for p in rows)
    sheet = PosterSheet(
        school_name=school.name,
        bot_username=rt.bot_username,
        paper=paper,
        texts=poster_texts(rt, langs),
        emergency_numbers=EMERGENCY_NUMBERS[country],
        pages=tuple(
            PosterPage(
                classroom=p.classroom,
                poster_code=p.code,
                link=poster_link(rt.bot_username, make_poster_token(key, p.poster_id)),
            )
            for p in printed
        ),
    )
    return PrintOrder(school.id, school.name, langs, paper, printed, sheet)


async def render_order(order: PrintOrder) -> bytes:
    """The order's PDF, every QR code read back; PrintFailed if one does not decode."""
    from qr_posters.qr import QRVerificationError

    # Rendering and verifying a few hundred posters takes seconds: not on the event loop.
    try:
        return await asyncio.to_thread(render_posters, order.sheet)
    except QRVerificationError as exc:
        raise PrintFailed(str(exc)) from exc


async def record_printed(
    session: AsyncSession, rt: Runtime, order: PrintOrder, *, actor: str
) -> None:
    await audit.record(
        session,
        actor=actor,
        event="posters_printed",
        now=rt.now(),
        detail={
            "school": order.school_id,
            "count": len(order.posters),
            "first": order.posters[0].poster_id,
            "last": order.posters[-1].poster_id,
        },
    )


async def discard_order(session: AsyncSession, order: PrintOrder) -> None:
    """Remove the rows of an order whose PDF could not be made after they were committed:
    nobody has seen, printed or scanned them, and /scans must not miss them."""
    ids = [p.poster_id for p in order.posters]
    await session.execute(delete(Poster).where(Poster.id.in_(ids)))


async def print_posters(
    session: AsyncSession,
    rt: Runtime,
    school_id: int,
    classrooms: tuple[str, ...],
    languages: tuple[str, ...] | None = None,
    paper: Paper = "a4",
    *,
    actor: str = "cli",
) -> PrintJob:
    """Order and render in one transaction (the CLI, the demo). If rendering or verification
    fails, the exception reaches the caller and the transaction (rows included) must roll
    back."""
    order = await order_posters(session, rt, school_id, classrooms, languages, paper)
    pdf = await render_order(order)
    await record_printed(session, rt, order, actor=actor)
    return PrintJob(order.school_name, order.languages, order.paper, order.posters, pdf)


# --- retiring ---------------------------------------------------------------------------


async def retire_poster(
    session: AsyncSession, rt: Runtime, school_id: int, code: str, *, actor: str
) -> Poster:
    """Mark a poster of this school as taken down. It still routes if someone scans it."""
    poster_id = parse_poster_code(code)
    poster = await session.get(Poster, poster_id) if poster_id is not None else None
    if poster is None or poster.school_id != school_id:
        raise PosterNotFound(code.strip()[:20])
    if poster.retired_at is None:
        poster.retired_at = rt.now()
        await audit.record(
            session,
            actor=actor,
            event="poster_retired",
            now=rt.now(),
            detail={"school": school_id, "poster": poster.id},
        )
    return poster


# --- scan counts --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PosterScans:
    code: str
    classroom: str
    retired: bool
    counts: tuple[int, ...]  # per week, newest first, aligned with ScanReport.weeks


@dataclass(frozen=True, slots=True)
class ScanReport:
    weeks: tuple[str, ...]  # ISO weeks, newest first
    posters: tuple[PosterScans, ...]
    silent: tuple[PosterScans, ...]  # in use for 4+ weeks, not scanned in 4 weeks


def recent_weeks(now: datetime, count: int) -> tuple[str, ...]:
    return tuple(iso_week(now - timedelta(weeks=i)) for i in range(count))


async def scan_report(
    session: AsyncSession, school_id: int, now: datetime, weeks: int = REPORT_WEEKS
) -> ScanReport:
    """Scans per poster per ISO week for one school, and the posters nobody scans any more.

    Only finished weeks are told, never the current one: a count that moves while staff
    watch would time the scans of a classroom. A poster is silent when it has hung for at
    least four weeks, is not retired, and had no scan in the last SILENT_WEEKS finished
    weeks.
    """
    last_finished = now - timedelta(weeks=1)
    shown = recent_weeks(last_finished, weeks)
    quiet = set(recent_weeks(last_finished, SILENT_WEEKS))
    posters = list(
        (
            await session.scalars(
                select(Poster).where(Poster.school_id == school_id).order_by(Poster.id)
            )
        ).all()
    )
    counts: dict[tuple[int, str], int] = {}
    scanned_lately: set[int] = set()
    if posters:
        rows = await session.execute(
            select(PosterScan.poster_id, PosterScan.iso_week, PosterScan.count)
            .join(Poster, Poster.id == PosterScan.poster_id)
            .where(Poster.school_id == school_id, PosterScan.iso_week.in_(set(shown) | quiet))
        )
        for poster_id, week, count in rows.all():
            counts[(poster_id, week)] = count
            if week in quiet and count > 0:
                scanned_lately.add(poster_id)
    settled = now - timedelta(weeks=SILENT_WEEKS)
    report = []
    silent = []
    for poster in posters:
        entry = PosterScans(
            code=poster_code(poster.id),
            classroom=poster.classroom,
            retired=poster.retired_at is not None,
            counts=tuple(counts.get((poster.id, week), 0) for week in shown),
        )
        report.append(entry)
        if (
            poster.retired_at is None
            and poster.created_at <= settled
            and poster.id not in scanned_lately
        ):
            silent.append(entry)
    return ScanReport(shown, tuple(report), tuple(silent))
