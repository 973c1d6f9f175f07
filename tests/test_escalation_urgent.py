"""End to end: an urgent message, in each language, is answered at once with the numbers to
call now, its pool is alerted, and five minutes without a taker reach the supervisors."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.app import App
from bot.domain import Role
from bot.services.casework import cases, codes
from fake_telegram import FakeBotAPI, TgUser
from tests.conftest import FakeClock
from tests.deadline_helpers import audit_events, make_member, make_place, run_due

WORRIED = "I am very worried about you."
ALERTED = "A psychologist has been alerted right now and will write to you here."
CALL_NOW = (
    "If you are in danger or might hurt yourself, call one of these numbers now. The call is free:"
)

# (language, what the student writes, the school's country or None, the numbers expected)
CASES = [
    ("ky", "жашагым келбейт, өзүмдү өлтүргүм келет", "KG", "111, 112, 102, 103"),
    ("kk", "өмір сүргім келмейді, бәрінен шаршадым", "KZ", "111, 150, 112, 102, 103"),
    # No school, Russian: only the numbers valid in both countries.
    ("ru", "я больше не хочу жить", None, "111, 112, 102, 103"),
]


def numbers_in(text: str) -> str:
    """The numbers of the reply's labelled list ("111 — …" lines), in order."""
    return ", ".join(
        line.split(" — ")[0] for line in text.splitlines() if " — " in line and line[:3].isdigit()
    )


@pytest.mark.parametrize(("lang", "text", "country", "numbers"), CASES, ids=[c[0] for c in CASES])
async def test_urgent_message_is_answered_at_once_in_the_students_language(
    app: App,
    fake_api: FakeBotAPI,
    clock: FakeClock,
    lang: str,
    text: str,
    country: str | None,
    numbers: str,
) -> None:
    user = TgUser(6200 + len(lang) + ord(lang[0]), "S", language_code=lang)
    psychologist_chat, supervisor_chat = 6301, 6302
    async with app.sessionmaker() as session, session.begin():
        place = await make_place(
            session,
            name=f"R-{lang}",
            country=country or "KG",
            timezone="Asia/Almaty" if country == "KZ" else "Asia/Bishkek",
        )
        await make_member(
            session,
            app.rt,
            user_id=psychologist_chat,
            role=Role.PSYCHOLOGIST,
            region_id=place.region_id,
            district_id=place.district_id,
            language=lang,
        )
        await make_member(
            session,
            app.rt,
            user_id=supervisor_chat,
            role=Role.SUPERVISOR,
            region_id=place.region_id,
            language=lang,
        )
        student = await cases.get_or_create_student(session, app.rt, user.id)
        student.language = lang
        if country is not None:
            student.school_id = place.school_id

    fake_api.text_message(user, text)
    ack = await fake_api.wait_for_send(user.id)
    text = ack.text or ""
    assert app.rt.tr(lang, WORRIED) != WORRIED  # really in the student's language
    assert text.startswith(app.rt.tr(lang, WORRIED))
    assert app.rt.tr(lang, ALERTED) in text  # a psychologist of the pool was told
    assert app.rt.tr(lang, CALL_NOW) in text
    assert numbers_in(text) == numbers

    async with app.sessionmaker() as session:
        student = await cases.get_student(session, app.rt, user.id)
        assert student is not None and student.active_case_id is not None
        case = await cases.active_case(session, student)
        assert case is not None and case.priority == "urgent"
        code = case.code
    if country is not None:
        # "A psychologist has been alerted" is true: the pool's card is on its way.
        card = await fake_api.wait_for_send(psychologist_chat, codes.display(code))
        assert (
            card.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == f"take:{code}"
        )

    start = len(fake_api.calls)
    clock.advance(minutes=5, seconds=10)
    await run_due(app)  # the app's own worker may get there first: either way, once
    app.sender.poke()
    headline = app.rt.tr(
        lang,
        "🚨 Urgent case not taken for {wait}",
        wait=app.rt.tr(lang, "{minutes} min", minutes=5),
    )
    alert = await fake_api.wait_for_send(supervisor_chat, headline, start=start, timeout=10)
    assert codes.display(code) in (alert.text or "")
    assert text not in (alert.text or "")  # supervisors never see content
    assert "reply_markup" not in alert.params
    events = [event for event, _ in await audit_events(app, code)]
    assert events.count("escalated_urgent_untaken") == 1


NIGHT_CALL = (
    "Please call one of these numbers right now: they answer day and night, and the call is free:"
)
NIGHT_ALERTED = (
    "Your message is saved and the psychologists have been alerted; one of them "
    "will write to you here as soon as possible."
)
NOT_ALERTED = "Your message is saved. The fastest help right now is a phone call."


@pytest.mark.parametrize(
    ("lang", "text", "country", "numbers"),
    [c for c in CASES if c[2] is not None],
    ids=[c[0] for c in CASES if c[2] is not None],
)
async def test_urgent_message_at_night_leads_with_the_numbers(
    app: App,
    fake_api: FakeBotAPI,
    clock: FakeClock,
    lang: str,
    text: str,
    country: str | None,
    numbers: str,
) -> None:
    zone = ZoneInfo("Asia/Almaty" if country == "KZ" else "Asia/Bishkek")
    async with app.sessionmaker() as session, session.begin():
        place = await make_place(
            session, name=f"N-{lang}", country=country or "KG", timezone=str(zone), hours=(9, 18)
        )
        student = await cases.get_or_create_student(session, app.rt, 6400)
        student.language = lang
        student.school_id = place.school_id
    now = clock().astimezone(zone)
    night = now.replace(hour=2, minute=0, second=0, microsecond=0)
    if night <= now:
        night += timedelta(days=1)
    clock.advance(seconds=(night - now).total_seconds())

    fake_api.text_message(TgUser(6400, "S", language_code=lang), text)
    ack = await fake_api.wait_for_send(6400)
    text = ack.text or ""
    # At night the numbers come first, then what happens next.
    call = app.rt.tr(lang, NIGHT_CALL)
    assert call != NIGHT_CALL
    assert text.startswith(f"{app.rt.tr(lang, WORRIED)} {call}\n")
    assert numbers_in(text) == numbers
    # Nobody works in this region at all: no psychologist was alerted, and it says so.
    assert app.rt.tr(lang, NOT_ALERTED) in text
    assert app.rt.tr(lang, NIGHT_ALERTED) not in text


async def test_urgent_message_at_night_with_a_pool_says_they_were_alerted(
    app: App, fake_api: FakeBotAPI, clock: FakeClock
) -> None:
    zone = ZoneInfo("Asia/Almaty")
    async with app.sessionmaker() as session, session.begin():
        place = await make_place(
            session, name="N-pool", country="KZ", timezone=str(zone), hours=(9, 18)
        )
        await make_member(
            session,
            app.rt,
            user_id=6501,
            role=Role.PSYCHOLOGIST,
            region_id=place.region_id,
            district_id=place.district_id,
        )
        student = await cases.get_or_create_student(session, app.rt, 6500)
        student.language = "ru"
        student.school_id = place.school_id
    now = clock().astimezone(zone)
    night = now.replace(hour=2, minute=0, second=0, microsecond=0)
    if night <= now:
        night += timedelta(days=1)
    clock.advance(seconds=(night - now).total_seconds())

    fake_api.text_message(TgUser(6500, "S", language_code="ru"), "я больше не хочу жить")
    ack = await fake_api.wait_for_send(6500)
    text = ack.text or ""
    assert text.startswith(f"{app.rt.tr('ru', WORRIED)} {app.rt.tr('ru', NIGHT_CALL)}\n")
    assert numbers_in(text) == "111, 150, 112, 102, 103"
    assert text.endswith(app.rt.tr("ru", NIGHT_ALERTED))
    await fake_api.wait_for_send(6501, app.rt.tr("ru", "New case in your pool"))
