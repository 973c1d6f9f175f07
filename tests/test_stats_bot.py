"""/stats, /export and /mystats through the real bot and the fake Bot API; every role other
than supervisor is refused (students simply stay in the student's flow)."""

from __future__ import annotations

import csv
import io
from typing import Any

from PIL import Image

from bot.app import App
from bot.domain import Role
from fake_telegram import Call, FakeBotAPI, TgUser
from tests.conftest import FakeClock
from tests.stats_seed import Seed, add_member, local, seed

SUPERVISOR = TgUser(8101, "Айгерим", language_code="kk")
NATIONAL = TgUser(8102, "Марат", language_code="ru")
PSYCHOLOGIST = TgUser(8103, "Нурлан", language_code="kk")
STAFF = TgUser(8104, "Гүлнара", language_code="ky")
STUDENT = TgUser(8105, "Бек", language_code="ru")


def command(api: FakeBotAPI, user: TgUser, text: str) -> None:
    name = text.split(" ", 1)[0]
    api.text_message(
        user, text, entities=[{"type": "bot_command", "offset": 0, "length": len(name)}]
    )


async def _setup(app: App, clock: FakeClock) -> Seed:
    # Pin "now" to 25 November 2026, noon in Almaty, whatever day the tests run.
    clock.offset += local(11, 25) - clock()
    async with app.sessionmaker() as session, session.begin():
        psychologist = await add_member(
            session, app.rt, PSYCHOLOGIST.id, Role.PSYCHOLOGIST, language="kk"
        )
        s = await seed(session, psychologist_id=psychologist.id)
        await add_member(
            session, app.rt, SUPERVISOR.id, Role.SUPERVISOR, region_id=s.region.id, language="kk"
        )
        await add_member(session, app.rt, NATIONAL.id, Role.SUPERVISOR, language="ru")
        await add_member(
            session,
            app.rt,
            STAFF.id,
            Role.STAFF,
            region_id=s.region.id,
            district_id=s.taraz.id,
            school_id=s.s1.id,
            language="ky",
        )
    return s


def _sent(api: FakeBotAPI, user: TgUser, start: int) -> list[Call]:
    return [c for c in api.calls[start:] if c.ok and c.is_send and c.chat_id == user.id]


def _buttons(call: Call) -> list[str]:
    markup: dict[str, Any] = call.params["reply_markup"]
    return [b["callback_data"] for row in markup["inline_keyboard"] for b in row]


async def test_stats_answers_with_a_chart_and_a_summary(
    app: App, fake_api: FakeBotAPI, clock: FakeClock
) -> None:
    await _setup(app, clock)
    command(fake_api, SUPERVISOR, "/stats")
    menu = await fake_api.wait_for(lambda c: c.chat_id == SUPERVISOR.id and c.is_send)
    assert _buttons(menu) == ["st:week:0", "st:month:0", "st:month:1", "st:term:0", "st:year:0"]
    assert "статистика" in (menu.text or "").lower()
    start = len(fake_api.calls)
    fake_api.callback_query(SUPERVISOR, "st:month:0", message=menu.message)
    photo = await fake_api.wait_for(
        lambda c: c.method.lower() == "sendphoto" and c.chat_id == SUPERVISOR.id,
        timeout=20,
        start=start,
    )
    upload = photo.params["photo"]
    assert upload["filename"].endswith(".png") and upload["size"] > 20_000
    assert Image.open(io.BytesIO(upload["data"])).width == 1080
    caption = photo.params["caption"]
    # Region only (8 cases, not the Kyrgyz one), in Kazakh, with the hand-counted figures.
    assert "Жамбыл облысы" in caption and "2026 жылғы қараша" in caption
    assert "Өтініштер: 8; әлі ашық: 4; әлі жауап берілмегені: 2." in caption
    assert "медианасы 30 мин" in caption
    for code in ("c1", "c2"):
        assert code not in caption


async def test_supervisor_without_region_sees_all_regions(
    app: App, fake_api: FakeBotAPI, clock: FakeClock
) -> None:
    await _setup(app, clock)
    command(fake_api, NATIONAL, "/stats")
    menu = await fake_api.wait_for(lambda c: c.chat_id == NATIONAL.id and c.is_send)
    start = len(fake_api.calls)
    fake_api.callback_query(NATIONAL, "st:month:0", message=menu.message)
    photo = await fake_api.wait_for(
        lambda c: c.method.lower() == "sendphoto" and c.chat_id == NATIONAL.id,
        timeout=20,
        start=start,
    )
    assert "Все области" in photo.params["caption"]
    assert "Обращений: 9;" in photo.params["caption"]


async def test_export_sends_a_suppressed_csv(
    app: App, fake_api: FakeBotAPI, clock: FakeClock
) -> None:
    s = await _setup(app, clock)
    command(fake_api, SUPERVISOR, "/export")
    document = await fake_api.wait_for(
        lambda c: c.method.lower() == "senddocument" and c.chat_id == SUPERVISOR.id, timeout=20
    )
    upload = document.params["document"]
    assert upload["filename"] == f"trustline-region{s.region.id}-2026-2027.csv"
    data: bytes = upload["data"]
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data[3:].decode()), delimiter=";"))
    assert rows[0][:3] == ["Ай", "Аудан", "Мектеп"]
    assert len(rows) > 3
    for row in rows[1:]:
        assert "Шопоков орто мектеби" not in row  # the other region's school
        for cell in row:
            assert not (cell.isdigit() and 1 <= int(cell) <= 4)
    assert " x " in (document.params.get("caption") or "")  # the mark of hidden counts


async def test_export_of_an_earlier_year_and_a_bad_argument(
    app: App, fake_api: FakeBotAPI, clock: FakeClock
) -> None:
    await _setup(app, clock)
    command(fake_api, SUPERVISOR, "/export 2025")
    document = await fake_api.wait_for(
        lambda c: c.method.lower() == "senddocument" and c.chat_id == SUPERVISOR.id, timeout=20
    )
    assert document.params["document"]["filename"].endswith("-2025-2026.csv")
    start = len(fake_api.calls)
    command(fake_api, SUPERVISOR, "/export next")
    answer = await fake_api.wait_for_send(SUPERVISOR.id, "/export 2025", start=start)
    assert answer.method.lower() == "sendmessage"


async def test_psychologist_sees_only_own_workload(
    app: App, fake_api: FakeBotAPI, clock: FakeClock
) -> None:
    await _setup(app, clock)
    command(fake_api, PSYCHOLOGIST, "/mystats")
    # c2 and c7 are theirs and open; answered after 120 and 60 minutes: median 1 h 30 min.
    answer = await fake_api.wait_for_send(PSYCHOLOGIST.id, "ашық — 2, жабылған — 0")
    assert "1 сағ 30 мин" in (answer.text or "")
    start = len(fake_api.calls)
    command(fake_api, PSYCHOLOGIST, "/stats")
    refusal = await fake_api.wait_for_send(PSYCHOLOGIST.id, "/mystats", start=start)
    assert "супервизорлары" in (refusal.text or "")
    assert not [c for c in fake_api.calls[start:] if c.method.lower() == "sendphoto"]


async def test_staff_are_refused_clearly(app: App, fake_api: FakeBotAPI, clock: FakeClock) -> None:
    await _setup(app, clock)
    for text in ("/stats", "/export", "/mystats"):
        start = len(fake_api.calls)
        command(fake_api, STAFF, text)
        refusal = await fake_api.wait_for_send(STAFF.id, "/scans", start=start)
        assert "мектеп кызматкерлерине жеткиликсиз" in (refusal.text or "")
        assert not [
            c
            for c in _sent(fake_api, STAFF, start)
            if c.method.lower() in ("sendphoto", "senddocument")
        ]


async def test_forged_button_from_a_non_supervisor_shows_nothing(
    app: App, fake_api: FakeBotAPI, clock: FakeClock
) -> None:
    await _setup(app, clock)
    start = len(fake_api.calls)
    fake_api.callback_query(STAFF, "st:year:0")
    await fake_api.wait_for(lambda c: c.method.lower() == "answercallbackquery", start=start)
    fake_api.callback_query(SUPERVISOR, "st:decade:7")
    await fake_api.wait_for_count(
        lambda c: c.method.lower() == "answercallbackquery", 2, start=start
    )
    assert not [c for c in fake_api.calls[start:] if c.method.lower() == "sendphoto"]


async def test_students_fall_through_to_the_student_flow(
    app: App, fake_api: FakeBotAPI, clock: FakeClock
) -> None:
    await _setup(app, clock)
    for text in ("/stats", "/export"):
        start = len(fake_api.calls)
        command(fake_api, STUDENT, text)
        answer = await fake_api.wait_for(
            lambda c: c.chat_id == STUDENT.id and c.is_send, start=start
        )
        assert answer.method.lower() == "sendmessage"
        assert "/mystats" not in (answer.text or "") and "/scans" not in (answer.text or "")
    assert not [
        c
        for c in fake_api.calls
        if c.chat_id == STUDENT.id and c.method.lower() in ("sendphoto", "senddocument")
    ]
