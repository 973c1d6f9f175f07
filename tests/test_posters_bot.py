"""End to end through the fake Bot API: staff print posters, every page is decoded and opened
as a student would, photos of posters are checked, scans are counted and linked to no one."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
import zxingcpp
from sqlalchemy import inspect, select

from bot.app import App
from bot.db.models import AuditEntry, Case, Member, Poster, PosterScan, Student
from bot.domain import Role
from bot.services.casework import cases
from bot.services.posters.poster_tokens import poster_code
from fake_telegram import Call, FakeBotAPI, TgUser
from qr_posters import render_posters
from tests.conftest import FakeClock
from tests.poster_fakes import (
    blur,
    glare,
    on_wall,
    perspective,
    rasterise_pdf,
    rotate,
    sheet,
    to_jpeg,
)
from tests.queue_helpers import Places, command, join, next_to, seed_places

STAFF = TgUser(8101, "Айгүл Эжеке", username="aigul_teacher", language_code="ky")


@pytest.fixture
async def places(app: App) -> Places:
    return await seed_places(app)


async def _sent_document(api: FakeBotAPI, chat_id: int, start: int) -> tuple[Call, bytes]:
    call = await api.wait_for(
        lambda c: c.chat_id == chat_id and c.method.lower() == "senddocument", 60, start=start
    )
    return call, call.params["document"]["data"]


async def _buttons(api: FakeBotAPI, chat_id: int, start: int, prefix: str) -> list[str]:
    call = await api.wait_for(
        lambda c: (
            c.chat_id == chat_id
            and c.method == "sendMessage"
            and "reply_markup" in c.params
            and any(
                b.get("callback_data", "").startswith(prefix)
                for row in c.params["reply_markup"]["inline_keyboard"]
                for b in row
            )
        ),
        10,
        start=start,
    )
    return [
        b["callback_data"] for row in call.params["reply_markup"]["inline_keyboard"] for b in row
    ]


async def _order_posters(
    app: App, api: FakeBotAPI, user: TgUser, classes: str, langs: str = "ky,ru", paper: str = "a4"
) -> bytes:
    start = len(api.calls)
    command(api, user, "/posters")
    choices = await _buttons(api, user.id, start, "pst:l:")
    assert choices[0] == "pst:l:ky,ru"  # the school's own languages come first
    start = len(api.calls)
    api.callback_query(user, f"pst:l:{langs}")
    await _buttons(api, user.id, start, "pst:p:")
    start = len(api.calls)
    api.callback_query(user, f"pst:p:{langs}:{paper}")
    await next_to(api, user.id, start, "5-11")
    start = len(api.calls)
    api.text_message(user, classes)
    _call, pdf = await _sent_document(api, user.id, start)
    return pdf


def _page_links(pdf: bytes) -> list[str]:
    links = []
    for page in rasterise_pdf(pdf, 100):
        found = zxingcpp.read_barcodes(page, formats=zxingcpp.BarcodeFormat.QRCode)
        assert len(found) == 1
        links.append(found[0].text)
    return links


async def test_printed_posters_lead_students_to_the_school(
    app: App, fake_api: FakeBotAPI, places: Places
) -> None:
    await join(app, fake_api, STAFF, Role.STAFF, school=places.school)
    pdf = await _order_posters(app, fake_api, STAFF, "5А, 5Б\n6-7 А-Б")
    links = _page_links(pdf)
    assert len(links) == 6
    for i, link in enumerate(links):
        assert link.startswith("https://t.me/trustline_test_bot?start=")
        student = TgUser(8200 + i, f"Окуучу {i}", language_code="ru")
        start = len(fake_api.calls)
        fake_api.start(student, link.split("?start=", 1)[1])
        greeting = await next_to(fake_api, student.id, start, "111")
        assert "damaged" not in (greeting.text or "")
        async with app.sessionmaker() as session:
            found = await cases.get_student(session, app.rt, student.id)
            assert found is not None and found.school_id == places.school
    async with app.sessionmaker() as session:
        rooms = (await session.scalars(select(Poster.classroom).order_by(Poster.id))).all()
        assert rooms == ["5А", "5Б", "6А", "6Б", "7А", "7Б"]
        scans = (await session.scalars(select(PosterScan.count))).all()
        assert sorted(scans) == [1] * 6


async def test_bad_class_lists_get_a_sentence_and_the_order_stays_open(
    app: App, fake_api: FakeBotAPI, places: Places
) -> None:
    await join(app, fake_api, STAFF, Role.STAFF, school=places.school)
    start = len(fake_api.calls)
    command(fake_api, STAFF, "/posters")
    await _buttons(fake_api, STAFF.id, start, "pst:l:")
    fake_api.callback_query(STAFF, "pst:l:kk,ru")
    await _buttons(fake_api, STAFF.id, start, "pst:p:")
    fake_api.callback_query(STAFF, "pst:p:kk,ru:a3")
    await next_to(fake_api, STAFF.id, start, "5-11")
    bad_lists = {
        "5А 😀": "😀",
        ", ".join(f"Класс{i}" for i in range(1000)): "200",
        "Ж" * 200: "20",
        "11-5 А": "11-5",
    }
    for text, expected in bad_lists.items():
        start = len(fake_api.calls)
        fake_api.text_message(STAFF, text)
        answer = await next_to(fake_api, STAFF.id, start)
        assert expected in (answer.text or ""), answer.text
        assert not fake_api.calls_of("sendDocument")
    async with app.sessionmaker() as session:
        assert (await session.scalars(select(Poster))).all() == []
    start = len(fake_api.calls)
    fake_api.text_message(STAFF, "9Ә")
    _call, pdf = await _sent_document(fake_api, STAFF.id, start)
    assert len(rasterise_pdf(pdf, 30)[0].size) == 2
    assert round(rasterise_pdf(pdf, 72)[0].size[0] / 72 * 25.4) == 297  # A3, as chosen


async def _check(api: FakeBotAPI, user: TgUser, photo: bytes) -> str:
    start = len(api.calls)
    api.photo_message(user, data=photo)
    answer = await next_to(api, user.id, start, timeout=30)
    return answer.text or ""


async def test_checkposter_with_photos(app: App, fake_api: FakeBotAPI, places: Places) -> None:
    await join(app, fake_api, STAFF, Role.STAFF, school=places.school)
    start = len(fake_api.calls)
    command(fake_api, STAFF, "/checkposter")
    await next_to(fake_api, STAFF.id, start)
    pdf = await _order_posters(app, fake_api, STAFF, "5А, 5Б")
    pages = rasterise_pdf(pdf, 90)
    async with app.sessionmaker() as session:
        codes = (await session.scalars(select(Poster.id).order_by(Poster.id))).all()
    first, second = (poster_code(i) for i in codes)
    photos = {
        "straight": on_wall(pages[0], 0.9),
        "tilted": rotate(on_wall(pages[0], 0.8), 12),
        "from the side": perspective(on_wall(pages[0], 0.9), 0.1),
        "shaky": blur(on_wall(pages[0], 0.8), 1.8),
    }
    for name, image in photos.items():
        text = await _check(fake_api, STAFF, to_jpeg(image))
        assert "✅" in text and "5А" in text and first in text and "Школа № 901" in text, name

    # Retire the second poster: a photo of it says so, and that it still works.
    start = len(fake_api.calls)
    command(fake_api, STAFF, f"/retire {second}")
    await next_to(fake_api, STAFF.id, start, second)
    text = await _check(fake_api, STAFF, to_jpeg(on_wall(pages[1], 0.8)))
    assert "☑️" in text and "5Б" in text

    # A poster of another site, a poster of another bot, a photo with no code, a tiny one.
    foreign = rasterise_pdf(render_posters(sheet(1)), 90)[0]  # opens @TrustLineKgBot
    text = await _check(fake_api, STAFF, to_jpeg(on_wall(foreign, 0.8)))
    assert "❌" in text and "@TrustLineKgBot" in text
    import qrcode

    site = qrcode.make("https://example.com/promo", box_size=10).get_image().convert("RGB")
    text = await _check(fake_api, STAFF, to_jpeg(on_wall(site, 1.0)))
    assert "❌" in text and "example.com" not in text
    blank = on_wall(pages[0].crop((0, 0, pages[0].width, 200)), 1.0)
    text = await _check(fake_api, STAFF, to_jpeg(blank))
    assert "QR" in text
    text = await _check(fake_api, STAFF, to_jpeg(on_wall(pages[0], 0.07)))
    assert "too small" in text or "кичинекей" in text
    text = await _check(
        fake_api, STAFF, to_jpeg(glare(on_wall(pages[0], 0.8), (0.5, 0.45), 0.14, 1.0))
    )
    assert "чагылыш" in text  # Kyrgyz for the reflection on the poster


async def test_checkposter_tells_other_schools_nothing_and_is_limited(
    app: App, fake_api: FakeBotAPI, places: Places
) -> None:
    """Issue 15, point 7: staff check only their own school's posters, see no scan count,
    and may check at most ten photos an hour."""
    await join(app, fake_api, STAFF, Role.STAFF, school=places.school)
    neighbour = TgUser(8102, "Сосед", language_code="ru")
    await join(app, fake_api, neighbour, Role.STAFF, school=places.school_oktyabr)
    page = rasterise_pdf(await _order_posters(app, fake_api, STAFF, "7А"), 90)[0]
    async with app.sessionmaker() as session:
        code = poster_code((await session.scalars(select(Poster.id))).one())
    photo = to_jpeg(on_wall(page, 0.9))
    own = await _check(fake_api, STAFF, photo)
    assert "✅" in own and "7А" in own and code in own
    assert not any(
        ch.isdigit() for ch in own.replace(code, "").replace("901", "").replace("7А", "")
    )  # no count
    other = await _check(fake_api, neighbour, photo)
    assert "другой школ" in other
    assert "7А" not in other and code not in other and "901" not in other
    blank = to_jpeg(on_wall(page.crop((0, 0, page.width, 200)), 1.0))
    for _ in range(9):  # the neighbour's 2nd to 10th checks are answered as usual
        assert "QR" in await _check(fake_api, neighbour, blank)
    limited = await _check(fake_api, neighbour, blank)
    assert "10" in limited and "QR" not in limited
    assert "QR" in await _check(fake_api, STAFF, blank)  # the limit is the neighbour's own


async def test_scans_and_retire(
    app: App, fake_api: FakeBotAPI, places: Places, clock: FakeClock
) -> None:
    await join(app, fake_api, STAFF, Role.STAFF, school=places.school)
    start = len(fake_api.calls)
    command(fake_api, STAFF, "/scans")
    empty = await next_to(fake_api, STAFF.id, start)
    assert "/posters" in (empty.text or "")
    links = _page_links(await _order_posters(app, fake_api, STAFF, "10А, 10Б"))
    clock.advance(weeks=5)
    student = TgUser(8300, "Бекзат", language_code="ky")
    for _ in range(2):
        start = len(fake_api.calls)
        fake_api.start(student, links[0].split("?start=", 1)[1])
        await next_to(fake_api, student.id, start, "111")
    start = len(fake_api.calls)
    command(fake_api, STAFF, "/scans")
    report = (await next_to(fake_api, STAFF.id, start)).text or ""
    first = next(line for line in report.splitlines() if "10А" in line)
    assert "2" not in first.split(": ", 1)[1].split()  # the current week is never told
    clock.advance(weeks=1)
    start = len(fake_api.calls)
    command(fake_api, STAFF, "/scans")
    report = (await next_to(fake_api, STAFF.id, start)).text or ""
    lines = report.splitlines()
    first = next(line for line in lines if "10А" in line)
    assert first.split(": ", 1)[1].split()[0] == "2"  # the last finished week comes first
    silent = lines[lines.index(next(line for line in lines if "/checkposter" in line)) + 1 :]
    assert [line.split(" · ")[1] for line in silent] == ["10Б"]

    # Bad /retire input: missing code, a code of nothing, someone else's poster.
    for args, expect in (("", "P-00K7"), ("P-ZZZZ", "P-ZZZZ"), ("😀", "😀")):
        start = len(fake_api.calls)
        command(fake_api, STAFF, f"/retire {args}".strip())
        answer = await next_to(fake_api, STAFF.id, start)
        assert expect in (answer.text or "")


async def test_a_student_cannot_print_posters(
    app: App, fake_api: FakeBotAPI, places: Places
) -> None:
    student = TgUser(8400, "Student", language_code="ru")
    start = len(fake_api.calls)
    command(fake_api, student, "/posters")
    await fake_api.wait_for(lambda c: c.chat_id == student.id and c.is_send, 10, start=start)
    assert not fake_api.calls_of("sendDocument")
    async with app.sessionmaker() as session:
        assert (await session.scalars(select(Poster))).all() == []


async def test_case_and_scans_share_nothing_but_the_school(
    app: App, fake_api: FakeBotAPI, places: Places
) -> None:
    await join(app, fake_api, STAFF, Role.STAFF, school=places.school)
    links = _page_links(await _order_posters(app, fake_api, STAFF, "7В"))
    student = TgUser(8500, "Дана", language_code="ru")
    start = len(fake_api.calls)
    fake_api.start(student, links[0].split("?start=", 1)[1])
    await next_to(fake_api, student.id, start, "111")
    start = len(fake_api.calls)
    fake_api.text_message(student, "Меня травят в классе")
    await fake_api.wait_for(lambda c: c.chat_id == student.id and c.is_send, 10, start=start)

    async with app.sessionmaker() as session:
        case = (await session.scalars(select(Case))).one()
        poster = (await session.scalars(select(Poster))).one()
        scan = (await session.scalars(select(PosterScan))).one()
        student_row = await session.get(Student, case.student_id)
        assert student_row is not None
        case_values = {c.key: getattr(case, c.key) for c in inspect(Case).columns}
        student_values = {c.key: getattr(student_row, c.key) for c in inspect(Student).columns}
        audit = (await session.scalars(select(AuditEntry))).all()

    # The one thing they share: the school.
    assert case.school_id == poster.school_id == places.school
    # Nothing in the case or the student points at a poster, a classroom or a week ...
    for table in (Case.__table__, Student.__table__):
        assert not any(
            fk.column.table.name in ("posters", "poster_scans") for fk in table.foreign_keys
        )
        assert not {"poster_id", "classroom", "iso_week"} & set(table.columns.keys())
    token = links[0].split("?start=", 1)[1]
    poster_marks = (poster.classroom, scan.iso_week, poster_code(poster.id), token)
    for values in (case_values, student_values):
        for key, value in values.items():
            if isinstance(value, str | bytes):
                shown = value if isinstance(value, str) else value.decode("latin-1")
                assert not any(mark in shown for mark in poster_marks), key
    # ... and the scan row points at no one: only its poster, its week and a count.
    assert set(PosterScan.__table__.columns.keys()) == {"poster_id", "iso_week", "count"}
    assert [fk.column.table.name for fk in PosterScan.__table__.foreign_keys] == ["posters"]
    assert scan.count == 1 and scan.poster_id == poster.id
    # No audit row ties the case to the poster either.
    for entry in audit:
        if entry.case_code == case.code:
            assert str(poster.id) not in entry.detail and poster.classroom not in entry.detail


async def test_forged_or_truncated_start_tokens_say_so_and_count_nothing(
    app: App, fake_api: FakeBotAPI, places: Places
) -> None:
    await join(app, fake_api, STAFF, Role.STAFF, school=places.school)
    token = _page_links(await _order_posters(app, fake_api, STAFF, "5А"))[0].split("=", 1)[1]
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    for i, bad in enumerate((token[:9], flipped, token + "AA", "p" + "A" * 63)):
        student = TgUser(8600 + i, "Student", language_code="ru")
        start = len(fake_api.calls)
        fake_api.start(student, bad)
        await next_to(fake_api, student.id, start, "111")
        texts = fake_api.sent_texts(student.id)
        assert any("damaged" in t or "поврежд" in t for t in texts), texts
        async with app.sessionmaker() as session:
            found = await cases.get_student(session, app.rt, student.id)
            assert found is not None and found.school_id is None
    async with app.sessionmaker() as session:
        assert (await session.scalars(select(PosterScan))).all() == []


async def test_a_failed_verification_tells_staff_and_keeps_nothing(
    app: App, fake_api: FakeBotAPI, places: Places, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.services.posters import posters as poster_service
    from qr_posters import QRVerificationError

    def broken(sheet: object) -> bytes:
        raise QRVerificationError("QR code (5А P-0001) decodes to 'x', expected 'y'")

    await join(app, fake_api, STAFF, Role.STAFF, school=places.school)
    monkeypatch.setattr(poster_service, "render_posters", broken)
    start = len(fake_api.calls)
    command(fake_api, STAFF, "/posters")
    await _buttons(fake_api, STAFF.id, start, "pst:l:")
    fake_api.callback_query(STAFF, "pst:l:ky,ru")
    await _buttons(fake_api, STAFF.id, start, "pst:p:")
    fake_api.callback_query(STAFF, "pst:p:ky,ru:a4")
    await next_to(fake_api, STAFF.id, start, "5-11")
    start = len(fake_api.calls)
    fake_api.text_message(STAFF, "5А, 5Б")
    answer = await next_to(fake_api, STAFF.id, start)
    assert answer.text and "5А" not in answer.text
    assert not fake_api.calls_of("sendDocument")
    async with app.sessionmaker() as session:
        assert (await session.scalars(select(Poster))).all() == []
        printed = select(AuditEntry).where(AuditEntry.event == "posters_printed")
        assert (await session.scalars(printed)).all() == []
    # The order is still open: the same list, sent again once printing works, is printed.
    monkeypatch.undo()
    start = len(fake_api.calls)
    fake_api.text_message(STAFF, "5А, 5Б")
    call, pdf = await _sent_document(fake_api, STAFF.id, start)
    assert len(_page_links(pdf)) == 2
    async with app.sessionmaker() as session:
        rooms = (await session.scalars(select(Poster.classroom).order_by(Poster.id))).all()
        assert rooms == ["5А", "5Б"]
        assert len((await session.scalars(printed)).all()) == 1


async def test_rendering_holds_no_transaction(
    app: App, fake_api: FakeBotAPI, places: Places, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seconds of rendering happen after the update's commit: meanwhile the database (on
    SQLite its one write lock) is free, here to lock the very member row the order wrote."""
    from bot.services.posters import posters as poster_service

    started, release = threading.Event(), threading.Event()

    def slow(sheet: Any) -> bytes:
        started.set()
        release.wait(60)
        return render_posters(sheet)

    member = await join(app, fake_api, STAFF, Role.STAFF, school=places.school)
    monkeypatch.setattr(poster_service, "render_posters", slow)
    start = len(fake_api.calls)
    command(fake_api, STAFF, "/posters")
    fake_api.callback_query(STAFF, "pst:p:ky,ru:a3")
    await next_to(fake_api, STAFF.id, start, "5-11")
    start = len(fake_api.calls)
    fake_api.text_message(STAFF, "9В")
    try:
        assert await asyncio.to_thread(started.wait, 60)
        async with app.sessionmaker() as session, session.begin():
            row = await session.get(Member, member.id, with_for_update={"nowait": True})
            assert row is not None and row.step == ""  # the order's update has committed
            assert len((await session.scalars(select(Poster))).all()) == 1
    finally:
        release.set()
    call, pdf = await _sent_document(fake_api, STAFF.id, start)
    assert call.params["document"]["filename"].startswith("posters-a3-")
    assert "A3" in (call.params.get("caption") or "")
    assert len(_page_links(pdf)) == 1
