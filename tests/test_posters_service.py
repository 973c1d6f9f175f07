"""Poster services on a real database: printing, reprints, retiring, scan counts, checks."""

from __future__ import annotations

from datetime import timedelta

import pytest
import zxingcpp
from sqlalchemy import func, select

from bot.app import App
from bot.db.models import AuditEntry, Poster, PosterScan
from bot.services.posters import poster_check, posters
from bot.services.posters.poster_check import CheckLimit, CodeCheck, Verdict
from bot.services.posters.poster_tokens import make_poster_token, poster_link, read_poster_token
from qr_posters import QRVerificationError
from tests.conftest import FakeClock
from tests.poster_fakes import rasterise_pdf, to_jpeg
from tests.queue_helpers import Places, seed_places


async def _print(
    app: App, school: int, rooms: str, langs: tuple[str, ...] | None = None, paper: str = "a4"
) -> posters.PrintJob:
    async with app.sessionmaker() as session, session.begin():
        return await posters.print_posters(
            session,
            app.rt,
            school,
            posters.parse_classes(rooms),
            langs,
            posters.parse_paper(paper),
            actor="test",
        )


def _links(pdf: bytes) -> list[str]:
    found = []
    for page in rasterise_pdf(pdf, 110):
        codes = zxingcpp.read_barcodes(page, formats=zxingcpp.BarcodeFormat.QRCode)
        assert len(codes) == 1
        found.append(codes[0].text)
    return found


def _token(link: str) -> str:
    return link.split("?start=", 1)[1]


@pytest.fixture
async def places(app: App) -> Places:
    return await seed_places(app)


async def test_print_makes_a_poster_per_classroom_and_each_page_leads_to_it(
    app: App, places: Places
) -> None:
    job = await _print(app, places.school, "5А, 5Б, 6-7 А-Б")
    assert [p.classroom for p in job.posters] == ["5А", "5Б", "6А", "6Б", "7А", "7Б"]
    assert job.languages == ("ky", "ru")  # Школа № 901 is "ky,ru"
    links = _links(job.pdf)
    key = app.rt.vault.pseudonyms.poster
    assert [read_poster_token(key, _token(link)) for link in links] == [
        p.poster_id for p in job.posters
    ]
    assert all(link.startswith("https://t.me/trustline_test_bot?start=p") for link in links)
    async with app.sessionmaker() as session:
        rows = (await session.scalars(select(Poster).order_by(Poster.id))).all()
        assert [(r.school_id, r.classroom, r.languages) for r in rows] == [
            (places.school, p.classroom, "ky,ru") for p in job.posters
        ]
        events = (await session.scalars(select(AuditEntry.event))).all()
        assert "posters_printed" in events


async def test_language_and_numbers_follow_the_country(app: App, places: Places) -> None:
    import pypdfium2 as pdfium

    job = await _print(app, places.kz_school, "9Ә")
    assert job.languages == ("kk", "ru")
    document = pdfium.PdfDocument(job.pdf)
    try:
        text = " ".join(document[0].get_textpage().get_text_range().split())
    finally:
        document.close()
    assert "Сен жалғыз емессің" in text and "Мы рядом" in text
    assert "150" in text and "112" in text and "111" in text  # Kazakhstan's numbers
    kg = await _print(app, places.school_oktyabr, "1А", ("ru",), "a3")
    document = pdfium.PdfDocument(kg.pdf)
    try:
        page = document[0]
        assert round(page.get_width() / 72 * 25.4) == 297  # A3
        kg_text = page.get_textpage().get_text_range()
    finally:
        document.close()
    assert "150" not in kg_text and "112" in kg_text
    assert "жалгыз" not in kg_text  # Russian alone, as asked


async def test_reprint_keeps_old_posters_working(app: App, places: Places) -> None:
    first = await _print(app, places.school, "5А")
    second = await _print(app, places.school, "5А")
    assert first.posters[0].poster_id != second.posters[0].poster_id
    for job in (first, second):
        token = _token(_links(job.pdf)[0])
        async with app.sessionmaker() as session, session.begin():
            start = await posters.resolve_start(session, app.rt, token)
        assert start is not None and start.school_id == places.school


async def test_failed_verification_writes_nothing(
    app: App, places: Places, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(sheet: object) -> bytes:
        raise QRVerificationError("QR code (5А P-0001) decodes to 'x', expected 'y'")

    monkeypatch.setattr(posters, "render_posters", broken)
    with pytest.raises(posters.PrintFailed):
        await _print(app, places.school, "5А, 5Б")
    async with app.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Poster)) == 0
        assert (
            await session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.event == "posters_printed")
            )
            == 0
        )


async def test_bad_inputs_are_typed_errors(app: App, places: Places) -> None:
    with pytest.raises(posters.BadClassList) as caught:
        posters.parse_classes("5А😀")
    assert caught.value.problem == "bad_character"
    for bad in ("", "ky,kk,ru", "en", "ky,ky", "ru;"):
        with pytest.raises(posters.BadLanguages):
            posters.parse_languages(bad)
    assert posters.parse_languages("KY + ru") == ("ky", "ru")
    with pytest.raises(posters.BadPaper):
        posters.parse_paper("letter")
    with pytest.raises(posters.SchoolNotFound):
        await _print(app, 999_999, "5А")


async def test_scans_are_counted_per_poster_per_iso_week(
    app: App, places: Places, clock: FakeClock
) -> None:
    job = await _print(app, places.school, "5А, 5Б, 5В")
    tokens = [_token(link) for link in _links(job.pdf)]
    for _ in range(3):
        async with app.sessionmaker() as session, session.begin():
            assert await posters.resolve_start(session, app.rt, tokens[0]) is not None
    clock.advance(weeks=1)
    async with app.sessionmaker() as session, session.begin():
        await posters.resolve_start(session, app.rt, tokens[1])
    async with app.sessionmaker() as session:
        rows = (await session.scalars(select(PosterScan).order_by(PosterScan.iso_week))).all()
        assert [(r.poster_id, r.count) for r in rows] == [
            (job.posters[0].poster_id, 3),
            (job.posters[1].poster_id, 1),
        ]
        assert all(len(r.iso_week) == 8 and "-W" in r.iso_week for r in rows)
        report = await posters.scan_report(session, places.school, app.rt.now())
    # Only finished weeks: this week's scan of 5Б is not told until the week is over.
    assert posters.iso_week(app.rt.now()) not in report.weeks
    assert report.weeks[0] == posters.iso_week(app.rt.now() - timedelta(weeks=1))
    counts = {entry.classroom: entry.counts[:2] for entry in report.posters}
    assert counts == {"5А": (3, 0), "5Б": (0, 0), "5В": (0, 0)}
    assert report.silent == ()  # nothing has hung for four weeks yet
    clock.advance(weeks=1)
    async with app.sessionmaker() as session:
        report = await posters.scan_report(session, places.school, app.rt.now())
    counts = {entry.classroom: entry.counts[:2] for entry in report.posters}
    assert counts == {"5А": (0, 3), "5Б": (1, 0), "5В": (0, 0)}


async def test_silent_posters_after_four_weeks(app: App, places: Places, clock: FakeClock) -> None:
    job = await _print(app, places.school, "8А, 8Б, 8В")
    tokens = [_token(link) for link in _links(job.pdf)]
    async with app.sessionmaker() as session, session.begin():
        await posters.retire_poster(
            session, app.rt, places.school, job.posters[2].code, actor="test"
        )
    clock.advance(weeks=5)
    async with app.sessionmaker() as session, session.begin():
        await posters.resolve_start(session, app.rt, tokens[0])
    clock.advance(weeks=1)
    async with app.sessionmaker() as session:
        report = await posters.scan_report(session, places.school, app.rt.now())
    # 8Б: up for six weeks, never scanned. 8А was scanned last week; 8В is retired.
    assert [entry.classroom for entry in report.silent] == ["8Б"]
    assert [entry.retired for entry in report.posters] == [False, False, True]


async def test_retired_poster_still_routes_and_only_own_school_can_retire(
    app: App, places: Places
) -> None:
    job = await _print(app, places.school, "5А")
    code = job.posters[0].code
    async with app.sessionmaker() as session, session.begin():
        with pytest.raises(posters.PosterNotFound):
            await posters.retire_poster(session, app.rt, places.school_oktyabr, code, actor="test")
        with pytest.raises(posters.PosterNotFound):
            await posters.retire_poster(session, app.rt, places.school, "P-ZZZZ", actor="test")
        with pytest.raises(posters.PosterNotFound):
            await posters.retire_poster(session, app.rt, places.school, "не код", actor="test")
    async with app.sessionmaker() as session, session.begin():
        poster = await posters.retire_poster(
            session, app.rt, places.school, code.lower(), actor="test"
        )
        assert poster.retired_at is not None
    token = _token(_links(job.pdf)[0])
    async with app.sessionmaker() as session, session.begin():
        start = await posters.resolve_start(session, app.rt, token)
    assert start is not None and start.school_id == places.school


async def test_forged_and_broken_tokens_route_nowhere_and_count_nothing(
    app: App, places: Places
) -> None:
    job = await _print(app, places.school, "5А")
    token = _token(_links(job.pdf)[0])
    other_key = bytes(32)
    forged = [
        token[:-1] + ("A" if token[-1] != "A" else "B"),
        token[:10],
        token + "x",
        make_poster_token(other_key, job.posters[0].poster_id),
        make_poster_token(app.rt.vault.pseudonyms.poster, 10_000_000),  # genuine, no poster
        "join_" + token,
        "",
    ]
    for bad in forged:
        async with app.sessionmaker() as session, session.begin():
            assert await posters.resolve_start(session, app.rt, bad) is None, bad
    async with app.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(PosterScan)) == 0


async def test_check_codes(app: App, places: Places) -> None:
    job = await _print(app, places.school, "5А, 5Б")
    links = _links(job.pdf)
    key = app.rt.vault.pseudonyms.poster
    async with app.sessionmaker() as session, session.begin():
        await posters.retire_poster(
            session, app.rt, places.school, job.posters[1].code, actor="test"
        )
    async with app.sessionmaker() as session:
        works = await poster_check.check_code(session, app.rt, links[0], school_id=places.school)
        assert (works.verdict, works.classroom, works.code, works.school_name) == (
            Verdict.WORKS,
            "5А",
            job.posters[0].code,
            "Школа № 901",
        )
        retired = await poster_check.check_code(session, app.rt, links[1], school_id=places.school)
        assert retired.verdict is Verdict.RETIRED and retired.retired_at is not None
        tg = "tg://resolve?domain=trustline_test_bot&start=" + _token(links[0])
        assert (
            await poster_check.check_code(session, app.rt, tg, school_id=places.school)
        ).verdict is Verdict.WORKS
        bad = poster_link("trustline_test_bot", make_poster_token(bytes(32), 1))
        assert (
            await poster_check.check_code(session, app.rt, bad, school_id=places.school)
        ).verdict is (Verdict.BAD_TOKEN)
        no_start = "https://t.me/trustline_test_bot"
        assert (
            await poster_check.check_code(session, app.rt, no_start, school_id=places.school)
        ).verdict is (Verdict.BAD_TOKEN)
        other_bot = poster_link("someone_else_bot", make_poster_token(key, 1))
        other = await poster_check.check_code(session, app.rt, other_bot, school_id=places.school)
        assert other.verdict is Verdict.OTHER_BOT and other.where == "@someone_else_bot"
        site = await poster_check.check_code(
            session, app.rt, "https://example.com/x?start=1", school_id=places.school
        )
        assert site.verdict is Verdict.OTHER_SITE and site.where == "example.com"
        plain = await poster_check.check_code(
            session, app.rt, "WIFI:S:school;P:1234;;", school_id=places.school
        )
        assert plain.verdict is Verdict.OTHER_SITE
        # Another school's staff learn that it is not their school's poster, nothing more.
        foreign = await poster_check.check_code(
            session, app.rt, links[0], school_id=places.school_oktyabr
        )
        assert foreign == CodeCheck(Verdict.OTHER_SCHOOL)
        assert not foreign.school_name and not foreign.classroom and not foreign.code


async def test_check_photo_does_not_count_a_scan(app: App, places: Places) -> None:
    job = await _print(app, places.school, "5А")
    photo = to_jpeg(rasterise_pdf(job.pdf, 80)[0])
    async with app.sessionmaker() as session:
        result = await poster_check.check_photo(session, app.rt, photo, school_id=places.school)
        assert [c.verdict for c in result.codes] == [Verdict.WORKS]
        assert await session.scalar(select(func.count()).select_from(PosterScan)) == 0
        nothing = await poster_check.check_photo(
            session, app.rt, b"not a photo", school_id=places.school
        )
        assert nothing.codes == () and nothing.problem == "not_an_image"


def test_checks_are_limited_per_member_per_hour(clock: FakeClock) -> None:
    limit = CheckLimit(per_hour=10)
    start = clock()
    for minute in range(10):
        assert limit.allow(b"one", start + timedelta(minutes=minute))
    assert not limit.allow(b"one", start + timedelta(minutes=30))
    assert limit.allow(b"other", start + timedelta(minutes=30))  # per member
    assert not limit.allow(b"one", start + timedelta(minutes=59, seconds=59))
    assert limit.allow(b"one", start + timedelta(hours=1, seconds=1))  # the first has aged out
