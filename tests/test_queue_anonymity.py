"""Anonymity towards staff: no Telegram id, name or username of a student ever reaches a
psychologist's, supervisor's or school staff's chat, and supervisors and staff read no
content through any command or button."""

from __future__ import annotations

import json

from sqlalchemy import select

from bot.app import App
from bot.db.models import AuditEntry, CaseMessage
from bot.domain import CaseStatus, Role
from bot.services.casework import codes
from fake_telegram import Call, FakeBotAPI, TgUser
from tests.queue_helpers import (
    answered_callback,
    case_by_id,
    command,
    join,
    next_to,
    relayed,
    seed_places,
    settings,  # noqa: F401 - faster per-chat sending for these long conversations
    student_opens_case,
    take,
)

MARKED = TgUser(
    918273645,
    "Zhyldyzmarker",
    last_name="Qwertymarker",
    username="uniq_marker_kid",
    language_code="ru",
)
MARKERS = (
    "918273645",
    "Zhyldyzmarker",
    "Qwertymarker",
    "uniq_marker_kid",
    "Friendmarker",
    "friend_marker_nick",
    "555111222",
)


def _everything(call: Call) -> str:
    return json.dumps([call.params, call.message, call.result], ensure_ascii=False, default=str)


async def test_no_student_identity_reaches_any_staff_chat(app: App, fake_api: FakeBotAPI):
    places = await seed_places(app)
    psy = TgUser(6601, "Psy", language_code="ru")
    boss = TgUser(6602, "Boss", language_code="ru")
    teacher = TgUser(6603, "Teacher", language_code="ru")
    await join(app, fake_api, psy, Role.PSYCHOLOGIST, district=places.lenin)
    await join(app, fake_api, boss, Role.SUPERVISOR, region=places.kz_region)
    await join(app, fake_api, teacher, Role.STAFF, school=places.school)
    staff_chats = {psy.id, boss.id, teacher.id}

    case = await student_opens_case(app, fake_api, MARKED, "меня обижают", district=places.lenin)
    # Media, and a message forwarded from a friend whose name and id must stay out too.
    fake_api.photo_message(MARKED, caption="вот")
    fake_api.voice_message(MARKED)
    fake_api.sticker_message(MARKED)
    fake_api.text_message(
        MARKED,
        "смотри что он написал",
        forward_origin={
            "type": "user",
            "date": 1700000000,
            "sender_user": {
                "id": 555111222,
                "is_bot": False,
                "first_name": "Friendmarker",
                "username": "friend_marker_nick",
            },
        },
    )
    await fake_api.wait_for_count(lambda c: c.chat_id == MARKED.id and c.is_send, 5, timeout=15)
    start = len(fake_api.calls)
    command(fake_api, psy, f"/take {case.code}")
    await fake_api.wait_for(
        lambda c: c.chat_id == psy.id and c.method == "sendVoice", 15, start=start
    )  # the history, attachments included
    start = len(fake_api.calls)
    fake_api.text_message(MARKED, "ты тут?")
    relay_id = await relayed(app, fake_api, psy, start, "ты тут?")
    fake_api.reply_to(psy, relay_id, "Да, я здесь.")
    command(fake_api, psy, "/note проверить в понедельник")
    command(fake_api, psy, f"/case {case.code}")
    await next_to(fake_api, MARKED.id, start, "Да, я здесь.")
    await next_to(fake_api, psy.id, start, "проверить в понедельник")

    # A second marked student in a country nobody serves: the duty pool (every psychologist)
    # gets the card.
    start = len(fake_api.calls)
    other = TgUser(918273646, "Zhyldyzmarker", username="uniq_marker_kid2", language_code="kk")
    far = await student_opens_case(
        app, fake_api, other, "көмектесіңіз", district=places.kz_district
    )
    await next_to(fake_api, psy.id, start, codes.display(far.code))

    staff_calls = [c for c in fake_api.calls if c.chat_id in staff_chats]
    assert len(staff_calls) > 15
    leaks = [(c.method, m) for c in staff_calls for m in MARKERS if m in _everything(c)]
    assert not leaks
    assert not fake_api.calls_of("forwardMessage")
    # Nor in what is stored: the forwarded origin is dropped, texts are sealed.
    async with app.sessionmaker() as session:
        stored = b"".join(
            (m.body_enc or b"") + (m.file_id_enc or b"")
            for m in (await session.scalars(select(CaseMessage))).all()
        )
        for marker in MARKERS:
            assert marker.encode() not in stored


async def test_supervisors_and_staff_read_nothing(app: App, fake_api: FakeBotAPI) -> None:
    places = await seed_places(app)
    boss = TgUser(6701, "Boss", language_code="ru")
    teacher = TgUser(6702, "Teacher", language_code="ru")
    psy = TgUser(6703, "Psy", language_code="ru")
    await join(app, fake_api, boss, Role.SUPERVISOR, region=places.region)
    await join(app, fake_api, teacher, Role.STAFF, school=places.school)
    secret = "секретнаяфраза42"
    # Oktyabrsky district has no psychologist: the case falls back to the supervisor.
    start = len(fake_api.calls)
    fallback = await student_opens_case(
        app,
        fake_api,
        TgUser(6704, "K", language_code="ru"),
        f"{secret} один",
        district=places.oktyabr,
    )
    card = await next_to(fake_api, boss.id, start, codes.display(fallback.code))
    assert "reply_markup" not in card.params  # no Take button for a supervisor
    await join(app, fake_api, psy, Role.PSYCHOLOGIST, district=places.lenin)
    held = await student_opens_case(
        app,
        fake_api,
        TgUser(6705, "L", language_code="ru"),
        f"{secret} два",
        district=places.lenin,
    )
    start = len(fake_api.calls)
    await take(app, fake_api, psy, held.code)
    await next_to(fake_api, psy.id, start, f"{secret} два")

    start = len(fake_api.calls)
    for user in (boss, teacher):
        for code in (fallback.code, held.code):
            for text in (
                f"/case {code}",
                f"/take {code}",
                f"/note {code} x",
                f"/close {code}",
                f"/transfer {code}",
                f"/release {code}",
                f"/recuse {code}",
            ):
                command(fake_api, user, text)
            command(fake_api, user, "/queue")
            for data in (f"take:{code}", f"close:{code}:resolved", f"tr:{code}:pool"):
                fake_api.callback_query(user, data)
    await fake_api.wait_for_count(
        lambda c: c.chat_id in (boss.id, teacher.id) and c.is_send,
        2 * (2 * 7 + 2),
        20,
        start=start,
    )
    await fake_api.wait_for_count(
        lambda c: c.method.lower() == "answercallbackquery", 12, 20, start=start
    )
    refusal = app.rt.tr(
        "ru", "Only psychologists read and take cases; your role does not allow it."
    )
    for call in fake_api.calls[start:]:
        assert secret not in _everything(call)
        if call.chat_id in (boss.id, teacher.id) and call.is_send:
            assert call.text == refusal
    assert (await case_by_id(app, fallback.id)).status == CaseStatus.OPEN
    assert (await case_by_id(app, held.id)).status == CaseStatus.CLAIMED
    async with app.sessionmaker() as session:
        views = (
            await session.execute(
                select(AuditEntry.case_code, AuditEntry.actor).where(
                    AuditEntry.event == "content_viewed"
                )
            )
        ).all()
    assert [code for code, _actor in views] == [held.code]  # the psychologist's, on taking
    start = len(fake_api.calls)
    fake_api.callback_query(teacher, f"take:{fallback.code}")
    alert = await answered_callback(fake_api, start)
    assert alert.params.get("text") == refusal
