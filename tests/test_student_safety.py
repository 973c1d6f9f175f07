"""End to end through the fake Bot API: the 🆘 button and /sos, asking when unsure, urgent
follow-ups, and the emergency numbers of each country and language (issue 13, issue 12 §6)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.app import App
from bot.db.models import Case, CaseMessage, Member, Student
from bot.domain import CaseStatus, Priority, Role
from bot.services.casework import cases, codes, helplines
from fake_telegram import FakeBotAPI, TgUser
from tests.conftest import FakeClock
from tests.deadline_helpers import (
    audit_events,
    make_member,
    make_place,
    reload,
    run_due,
    take,
)

SOS_HEADLINE = "🆘 A student pressed the help button"
DANGER_HEADLINE = "🆘 A student answered that they are in danger now"
QUESTION = (
    "Can I ask you something important? Are you in danger right now, or are you "
    "thinking of hurting yourself?"
)
ALERTED_POOL = "A psychologist has been alerted right now and will write to you here."
ALERTED_HOLDER = "Your psychologist has been alerted right now and will write to you here."
NOT_ALERTED = "Your message is saved. The fastest help right now is a phone call."
CALL_NOW = (
    "If you are in danger or might hurt yourself, call one of these numbers now. The call is free:"
)
AGAIN = "Received ✓ If you are in danger, calling one of the numbers above is the fastest help."
FOLLOWUP_HEADLINE = "🔴 Another urgent message in a waiting case"

KZ_NUMBERS = ("111", "150", "112", "102", "103")
KG_NUMBERS = ("111", "112", "102", "103")
COMMON_NUMBERS = ("111", "112", "102", "103")


def command(api: FakeBotAPI, user: TgUser, text: str) -> None:
    name = text.split()[0]
    api.text_message(
        user, text, entities=[{"type": "bot_command", "offset": 0, "length": len(name)}]
    )


def numbers_in(text: str) -> tuple[str, ...]:
    return tuple(
        line.split(" — ")[0] for line in text.splitlines() if " — " in line and line[:3].isdigit()
    )


async def student_case(app: App, user_id: int) -> Case:
    async with app.sessionmaker() as session:
        student = await cases.get_student(session, app.rt, user_id)
        assert student is not None and student.active_case_id is not None
        case = await session.get(Case, student.active_case_id)
        assert case is not None
        return case


async def message_count(app: App, case_id: int) -> int:
    async with app.sessionmaker() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(CaseMessage).where(CaseMessage.case_id == case_id)
            )
            or 0
        )


async def place_with_psychologist(
    app: App, *, country: str, psychologist_chat: int, lang: str = "ru", name: str = "R"
) -> tuple[object, int]:
    async with app.sessionmaker() as session, session.begin():
        place = await make_place(
            session,
            name=name,
            country=country,
            timezone="Asia/Almaty" if country == "KZ" else "Asia/Bishkek",
        )
        member = await make_member(
            session,
            app.rt,
            user_id=psychologist_chat,
            role=Role.PSYCHOLOGIST,
            region_id=place.region_id,
            district_id=place.district_id,
            language=lang,
        )
        return place, member.id


def pool_cards(api: FakeBotAPI, chat_id: int, headline: str) -> int:
    return sum(1 for text in api.sent_texts(chat_id) if text.startswith(headline))


# --- the button -------------------------------------------------------------------------


async def test_sos_pressed_as_the_very_first_thing(
    app: App, fake_api: FakeBotAPI, clock: FakeClock
) -> None:
    """/start shows the greeting with the 🆘 button and the region question; the student
    presses 🆘 before answering it or writing anything."""
    user = TgUser(7101, "A", language_code="kk")
    psychologist_chat = 7191
    await place_with_psychologist(
        app, country="KZ", psychologist_chat=psychologist_chat, lang="kk"
    )
    command(fake_api, user, "/start")
    greeting = await fake_api.wait_for_send(user.id, "111")
    keyboard = greeting.params["reply_markup"]
    button = keyboard["keyboard"][0][0]["text"]
    assert button.startswith("🆘") and button == app.rt.tr("kk", "🆘 I need help now")
    assert button != "🆘 I need help now"  # in Kazakh
    assert keyboard["is_persistent"] is True
    region_question = await fake_api.wait_for(
        lambda c: c.chat_id == user.id and "inline_keyboard" in c.params.get("reply_markup", {})
    )
    assert (
        region_question.params["reply_markup"]["inline_keyboard"][-1][0]["callback_data"]
        == "region:skip"
    )

    start = len(fake_api.calls)
    fake_api.text_message(user, button)
    reply = await fake_api.wait_for_send(
        user.id, app.rt.tr("kk", "I am very worried about you."), start=start
    )
    assert reply.text is not None
    # No place yet: Kazakh stands for Kazakhstan, so 150 is given, each number labelled.
    assert numbers_in(reply.text) == KZ_NUMBERS
    assert (
        f"111 — {app.rt.tr('kk', 'trust line for children and families, free, 24/7')}"
        in reply.text
    )
    assert app.rt.tr("kk", CALL_NOW) in reply.text
    assert reply.params["reply_markup"]["keyboard"][0][0]["text"] == button  # kept

    case = await student_case(app, user.id)
    assert case.priority == Priority.URGENT and case.status == CaseStatus.OPEN
    # The button's words are an event, not a message the psychologist would read.
    assert case.message_count == 0 and await message_count(app, case.id) == 0
    events = [event for event, _ in await audit_events(app, case.code)]
    assert events.count("student_sos") == 1
    card = await fake_api.wait_for_send(psychologist_chat, app.rt.tr("kk", SOS_HEADLINE))
    assert codes.display(case.code) in (card.text or "")
    assert button not in (card.text or "")
    # The psychologist was told, so the reply says so.
    assert app.rt.tr("kk", ALERTED_POOL) in reply.text

    # Nobody takes it: the 5-minute re-alerts of urgent cases follow.
    start = len(fake_api.calls)
    clock.advance(minutes=5, seconds=5)
    await run_due(app)
    app.sender.poke()
    headline = app.rt.tr(
        "kk",
        "🚨 Urgent case not taken for {wait}",
        wait=app.rt.tr("kk", "{minutes} min", minutes=5),
    )
    await fake_api.wait_for_send(psychologist_chat, headline, start=start, timeout=10)


async def test_sos_command_without_start_or_place(app: App, fake_api: FakeBotAPI) -> None:
    """/sos from someone the bot has never seen, in Russian, with no place: a case opens,
    urgent, with only the numbers valid in both countries."""
    user = TgUser(7102, "B", language_code="ru")
    command(fake_api, user, "/sos")
    reply = await fake_api.wait_for_send(user.id, app.rt.tr("ru", "I am very worried about you."))
    assert reply.text is not None
    assert numbers_in(reply.text) == COMMON_NUMBERS
    assert "150" not in reply.text
    assert "103 — скорая помощь" in reply.text and "102 — полиция" in reply.text
    case = await student_case(app, user.id)
    assert case.priority == Priority.URGENT and case.message_count == 0
    detail = dict(await audit_events(app, case.code))["student_sos"]
    assert detail["source"] == "command"
    async with app.sessionmaker() as session:
        student = await session.scalar(select(Student))
        assert student is not None and student.language == "ru"


async def test_sos_twice_in_a_minute_alerts_once_then_again(
    app: App, fake_api: FakeBotAPI, clock: FakeClock
) -> None:
    user = TgUser(7103, "C", language_code="ky")
    psychologist_chat = 7193
    place, _ = await place_with_psychologist(
        app, country="KG", psychologist_chat=psychologist_chat, lang="ky"
    )
    async with app.sessionmaker() as session, session.begin():
        student = await cases.get_or_create_student(session, app.rt, user.id)
        student.language = "ky"
        student.school_id = place.school_id  # type: ignore[attr-defined]
    button = app.rt.tr("ky", "🆘 I need help now")
    headline = app.rt.tr("ky", SOS_HEADLINE)
    worried = app.rt.tr("ky", "I am very worried about you.")

    fake_api.text_message(user, button)
    await fake_api.wait_for_send(psychologist_chat, headline)
    clock.advance(seconds=30)
    fake_api.text_message(user, button)
    replies = await fake_api.wait_for_count(
        lambda c: c.chat_id == user.id and c.is_send and worried in (c.text or ""), 2
    )
    # The second reply still says a psychologist knows: the first press told them.
    assert app.rt.tr("ky", ALERTED_POOL) in (replies[1].text or "")
    assert numbers_in(replies[1].text or "") == KG_NUMBERS
    case = await student_case(app, user.id)
    events = await audit_events(app, case.code)
    assert [d["realerted"] for e, d in events if e == "student_sos"] == [1, 0]
    assert pool_cards(fake_api, psychologist_chat, headline) == 1

    clock.advance(seconds=31)  # a minute after the alert
    start = len(fake_api.calls)
    fake_api.text_message(user, button)
    await fake_api.wait_for_send(psychologist_chat, headline, start=start)
    await fake_api.wait_for_send(user.id, worried, start=start)
    assert pool_cards(fake_api, psychologist_chat, headline) == 2
    assert (await reload(app, case.id)).message_count == 0


async def test_sos_on_a_taken_case_tells_the_holder(app: App, fake_api: FakeBotAPI) -> None:
    user = TgUser(7104, "D", language_code="ru")
    psychologist_chat = 7194
    place, member_id = await place_with_psychologist(
        app, country="KZ", psychologist_chat=psychologist_chat
    )
    async with app.sessionmaker() as session, session.begin():
        student = await cases.get_or_create_student(session, app.rt, user.id)
        student.language = "ru"
        student.school_id = place.school_id  # type: ignore[attr-defined]
    fake_api.text_message(user, "Привет, у меня вопрос")
    await fake_api.wait_for_send(user.id)
    case = await student_case(app, user.id)
    async with app.sessionmaker() as session, session.begin():
        stored = await session.get(Case, case.id)
        member = await session.get(Member, member_id)
        assert stored is not None and member is not None
        take(stored, member, app.rt)

    start = len(fake_api.calls)
    command(fake_api, user, "/sos")
    notice = await fake_api.wait_for_send(psychologist_chat, "🆘", start=start)
    assert codes.display(case.code) in (notice.text or "")
    assert "reply_markup" not in notice.params  # no Take button on a taken case
    reply = await fake_api.wait_for_send(user.id, "Мы очень", start=start)
    assert app.rt.tr("ru", ALERTED_HOLDER) in (reply.text or "")
    assert "один из них" not in (reply.text or "")  # never "one of them" on a taken case
    assert numbers_in(reply.text or "") == KZ_NUMBERS


# --- numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "lang", "expected"),
    [
        ("KZ", "ky", KZ_NUMBERS),
        ("KZ", "kk", KZ_NUMBERS),
        ("KZ", "ru", KZ_NUMBERS),
        ("KG", "ky", KG_NUMBERS),
        ("KG", "kk", KG_NUMBERS),
        ("KG", "ru", KG_NUMBERS),
        (None, "ky", KG_NUMBERS),
        (None, "kk", KZ_NUMBERS),
        (None, "ru", COMMON_NUMBERS),
    ],
)
async def test_numbers_for_every_country_and_language(
    app: App,
    fake_api: FakeBotAPI,
    country: str | None,
    lang: str,
    expected: tuple[str, ...],
) -> None:
    user = TgUser(7200, "E", language_code=lang)
    async with app.sessionmaker() as session, session.begin():
        student = await cases.get_or_create_student(session, app.rt, user.id)
        student.language = lang
        if country is not None:
            place = await make_place(session, name=f"N-{country}", country=country)
            student.school_id = place.school_id
    command(fake_api, user, "/sos")
    reply = await fake_api.wait_for_send(user.id, app.rt.tr(lang, "I am very worried about you."))
    text = reply.text or ""
    assert numbers_in(text) == expected
    table = helplines.numbers_for(None if country is None else helplines.Country(country), lang)
    for number in table:
        assert f"{number.number} — {app.rt.tr(lang, number.label)}" in text
        assert app.rt.tr(lang, number.label) != number.label  # translated
    # The same numbers on /help, with the same labels.
    start = len(fake_api.calls)
    command(fake_api, user, "/help")
    help_reply = await fake_api.wait_for_send(user.id, "/sos", start=start)
    assert numbers_in(help_reply.text or "") == expected


def test_numbers_table() -> None:
    kz = helplines.numbers_for(helplines.Country.KZ, "ru")
    kg = helplines.numbers_for(helplines.Country.KG, "kk")  # the place wins over language
    assert [n.number for n in kz] == list(KZ_NUMBERS)
    assert [n.number for n in kg] == list(KG_NUMBERS)
    assert [n.number for n in helplines.numbers_for(None, "ru")] == list(COMMON_NUMBERS)
    assert [n.number for n in helplines.numbers_for(None, "xx")] == list(COMMON_NUMBERS)
    assert kz[0].label == "trust line for children and families, free, 24/7"
    assert kz[1].label == kg[0].label == "children's helpline"
    labels = {n.number: n.label for n in kg}
    assert labels == {
        "111": "children's helpline",
        "112": "emergency services",
        "102": "police",
        "103": "ambulance",
    }


# --- asking when unsure -------------------------------------------------------------------


async def test_question_once_a_day_for_a_high_message_and_both_answers(
    app: App, fake_api: FakeBotAPI, clock: FakeClock
) -> None:
    user = TgUser(7301, "F", language_code="ru")
    psychologist_chat = 7391
    place, _ = await place_with_psychologist(
        app, country="KG", psychologist_chat=psychologist_chat
    )
    async with app.sessionmaker() as session, session.begin():
        student = await cases.get_or_create_student(session, app.rt, user.id)
        student.language = "ru"
        student.school_id = place.school_id  # type: ignore[attr-defined]
    question = app.rt.tr("ru", QUESTION)
    assert question != QUESTION

    fake_api.text_message(user, "меня бьют дома")  # HIGH, not urgent
    asked = await fake_api.wait_for_send(user.id, question)
    buttons = [b for row in asked.params["reply_markup"]["inline_keyboard"] for b in row]
    assert [b["text"] for b in buttons] == [
        app.rt.tr("ru", "I'm in danger now"),
        app.rt.tr("ru", "I'm safe now"),
    ]
    case = await student_case(app, user.id)
    assert case.priority == Priority.HIGH
    assert [b["callback_data"] for b in buttons] == [
        f"safe:danger:{case.code}",
        f"safe:ok:{case.code}",
    ]

    # Another HIGH message the same day: no second question.
    start = len(fake_api.calls)
    fake_api.text_message(user, "отец опять меня бьёт дома")
    await fake_api.wait_for_send(user.id, app.rt.tr("ru", "Received ✓"), start=start)
    clock.advance(hours=1)
    fake_api.text_message(user, "мама тоже бьёт дома")
    await fake_api.wait_for_count(
        lambda c: c.chat_id == user.id and c.is_send and c.text == app.rt.tr("ru", "Received ✓"),
        2,
        start=start,
    )
    assert question not in fake_api.sent_texts(user.id)[-2:]
    assert fake_api.sent_texts(user.id).count(question) == 1

    # "I'm safe now": a kind answer, an event, nothing urgent.
    start = len(fake_api.calls)
    fake_api.callback_query(user, f"safe:ok:{case.code}", message=asked.message)
    thanks = await fake_api.wait_for_send(user.id, "Спасибо", start=start)
    assert "🆘" in (thanks.text or "")
    # Answered: the two buttons are taken off the question.
    await fake_api.wait_for(
        lambda c: c.method.lower() == "editmessagereplymarkup" and c.chat_id == user.id,
        start=start,
    )
    events = [event for event, _ in await audit_events(app, case.code)]
    assert events.count("safety_asked") == 1 and events.count("student_safe_now") == 1
    assert (await reload(app, case.id)).priority == Priority.HIGH

    # The next day, the question comes again; "I'm in danger now" acts as the button.
    clock.advance(days=1)
    start = len(fake_api.calls)
    fake_api.text_message(user, "меня бьют дома")
    asked_again = await fake_api.wait_for_send(user.id, question, start=start)
    fake_api.callback_query(user, f"safe:danger:{case.code}", message=asked_again.message)
    reply = await fake_api.wait_for_send(user.id, "Мы очень", start=start)
    assert numbers_in(reply.text or "") == KG_NUMBERS
    card = await fake_api.wait_for_send(
        psychologist_chat, app.rt.tr("ru", DANGER_HEADLINE), start=start
    )
    assert codes.display(case.code) in (card.text or "")
    stored = await reload(app, case.id)
    assert stored.priority == Priority.URGENT
    sos = [d for e, d in await audit_events(app, case.code) if e == "student_sos"]
    assert sos == [{"source": "answer", "opened": 0, "realerted": 1, "alerted": 1}]


async def test_weak_hint_is_asked_about_and_urgent_is_not(app: App, fake_api: FakeBotAPI) -> None:
    user = TgUser(7302, "G", language_code="ru")
    question = app.rt.tr("ru", QUESTION)
    fake_api.text_message(user, "умру")  # a lone weak hint: NORMAL, listed
    await fake_api.wait_for_send(user.id, question)
    other = TgUser(7303, "H", language_code="ru")
    fake_api.text_message(other, "я больше не хочу жить")  # URGENT: the reply, no question
    await fake_api.wait_for_send(other.id, "Мы очень")
    fake_api.text_message(other, "привет")
    await fake_api.wait_for_send(other.id, app.rt.tr("ru", "Received ✓"))
    assert question not in fake_api.sent_texts(other.id)


# --- urgent follow-ups --------------------------------------------------------------------


async def test_second_urgent_message_gets_the_reply_again_not_twice_in_ten_minutes(
    app: App, fake_api: FakeBotAPI, clock: FakeClock
) -> None:
    user = TgUser(7401, "I", language_code="kk")
    psychologist_chat = 7491
    place, _ = await place_with_psychologist(
        app, country="KZ", psychologist_chat=psychologist_chat, lang="kk"
    )
    async with app.sessionmaker() as session, session.begin():
        student = await cases.get_or_create_student(session, app.rt, user.id)
        student.language = "kk"
        student.school_id = place.school_id  # type: ignore[attr-defined]
    worried = app.rt.tr("kk", "I am very worried about you.")
    urgent_text = "өмір сүргім келмейді"

    fake_api.text_message(user, urgent_text)
    first = await fake_api.wait_for_send(user.id, worried)
    assert app.rt.tr("kk", ALERTED_POOL) in (first.text or "")
    await fake_api.wait_for_send(psychologist_chat, app.rt.tr("kk", "New case in your pool"))

    clock.advance(minutes=3)
    start = len(fake_api.calls)
    fake_api.text_message(user, "өзімді өлтіргім келеді")
    again = await fake_api.wait_for_send(user.id, start=start)
    assert again.text == app.rt.tr("kk", AGAIN)
    assert pool_cards(fake_api, psychologist_chat, app.rt.tr("kk", FOLLOWUP_HEADLINE)) == 0

    clock.advance(minutes=7, seconds=5)  # ten minutes after the first urgent reply
    start = len(fake_api.calls)
    fake_api.text_message(user, urgent_text)
    second = await fake_api.wait_for_send(user.id, worried, start=start)
    assert numbers_in(second.text or "") == KZ_NUMBERS
    assert app.rt.tr("kk", ALERTED_POOL) in (second.text or "")
    await fake_api.wait_for_send(
        psychologist_chat, app.rt.tr("kk", FOLLOWUP_HEADLINE), start=start
    )


async def test_followup_on_a_taken_case_alerts_the_holder(
    app: App, fake_api: FakeBotAPI, clock: FakeClock
) -> None:
    user = TgUser(7402, "J", language_code="ky")
    psychologist_chat = 7492
    place, member_id = await place_with_psychologist(
        app, country="KG", psychologist_chat=psychologist_chat, lang="ky"
    )
    async with app.sessionmaker() as session, session.begin():
        student = await cases.get_or_create_student(session, app.rt, user.id)
        student.language = "ky"
        student.school_id = place.school_id  # type: ignore[attr-defined]
    worried = app.rt.tr("ky", "I am very worried about you.")
    fake_api.text_message(user, "жашагым келбейт")
    await fake_api.wait_for_send(user.id, worried)
    case = await student_case(app, user.id)
    async with app.sessionmaker() as session, session.begin():
        stored = await session.get(Case, case.id)
        member = await session.get(Member, member_id)
        assert stored is not None and member is not None
        take(stored, member, app.rt)

    clock.advance(minutes=11)
    start = len(fake_api.calls)
    fake_api.text_message(user, "жашагым келбейт")
    reply = await fake_api.wait_for_send(user.id, worried, start=start)
    assert app.rt.tr("ky", ALERTED_HOLDER) in (reply.text or "")
    notice = app.rt.tr(
        "ky", "🔴 {code}: another urgent message from the student.", code=codes.display(case.code)
    )
    await fake_api.wait_for_send(psychologist_chat, notice, start=start)


async def test_no_alerted_claim_when_no_psychologist_exists(
    app: App, fake_api: FakeBotAPI
) -> None:
    """Nobody to alert: the reply says honestly that the message is saved and that the
    numbers are the fastest help (a supervisor alone is not a psychologist)."""
    user = TgUser(7501, "K", language_code="ru")
    supervisor_chat = 7591
    async with app.sessionmaker() as session, session.begin():
        place = await make_place(session, name="Empty", country="KG")
        await make_member(
            session,
            app.rt,
            user_id=supervisor_chat,
            role=Role.SUPERVISOR,
            region_id=place.region_id,
        )
        student = await cases.get_or_create_student(session, app.rt, user.id)
        student.language = "ru"
        student.school_id = place.school_id
    fake_api.text_message(user, "я больше не хочу жить")
    reply = await fake_api.wait_for_send(user.id, "Мы очень")
    text = reply.text or ""
    assert app.rt.tr("ru", NOT_ALERTED) in text
    assert app.rt.tr("ru", ALERTED_POOL) not in text
    assert "сообщили" not in text
    assert numbers_in(text) == KG_NUMBERS

    other = TgUser(7502, "L", language_code="ru")
    async with app.sessionmaker() as session, session.begin():
        student = await cases.get_or_create_student(session, app.rt, other.id)
        student.language = "ru"
        student.school_id = place.school_id
    command(fake_api, other, "/sos")
    sos_reply = await fake_api.wait_for_send(other.id, "Мы очень")
    assert app.rt.tr("ru", NOT_ALERTED) in (sos_reply.text or "")


# --- the notice about edited messages -------------------------------------------------------


async def test_edited_message_notice_is_worded_for_who_edited(
    app: App, fake_api: FakeBotAPI
) -> None:
    student = TgUser(7601, "M", language_code="ru")
    psychologist = TgUser(7602, "N", language_code="ru")
    supervisor = TgUser(7603, "O", language_code="ru")
    async with app.sessionmaker() as session, session.begin():
        place = await make_place(session, name="Edits", country="KG")
        await make_member(
            session,
            app.rt,
            user_id=psychologist.id,
            role=Role.PSYCHOLOGIST,
            region_id=place.region_id,
            district_id=place.district_id,
        )
        await make_member(
            session, app.rt, user_id=supervisor.id, role=Role.SUPERVISOR, region_id=place.region_id
        )
    texts = {}
    for user in (student, psychologist, supervisor):
        start = len(fake_api.calls)
        fake_api.edited_message(user, "исправлено")
        call = await fake_api.wait_for_send(user.id, start=start)
        texts[user.id] = call.text
    assert texts[student.id] == app.rt.tr(
        "ru",
        "Edited messages are not passed on to the psychologist. If you want to add or "
        "correct something, just write a new message.",
    )
    assert texts[psychologist.id] == app.rt.tr(
        "ru",
        "Edited messages are not passed on to the student. To correct something, send "
        "a new message.",
    )
    assert texts[supervisor.id] == app.rt.tr(
        "ru", "The bot does not read edited messages. Send the command again as a new message."
    )
    # Nobody on the staff side is told that something "did not reach the psychologist".
    assert "психолог" not in (texts[psychologist.id] or "")
    assert "психолог" not in (texts[supervisor.id] or "")


async def test_words_typed_after_sos_are_kept_as_a_message(app: App, fake_api: FakeBotAPI) -> None:
    """A child who types "🆘" and then what is happening: the press, and the words kept for the
    psychologist (only the button's own words are not stored)."""
    user = TgUser(7701, "P", language_code="ru")
    words = "🆘 отчим бьёт маму, я закрылась в ванной"
    fake_api.text_message(user, words)
    await fake_api.wait_for_send(user.id, "Мы очень")
    await fake_api.wait_for_send(user.id, app.rt.tr("ru", "Received ✓"))
    case = await student_case(app, user.id)
    assert case.priority == Priority.URGENT
    async with app.sessionmaker() as session:
        stored = (
            await session.scalars(select(CaseMessage).where(CaseMessage.case_id == case.id))
        ).all()
    assert len(stored) == 1 and stored[0].body_enc is not None
    assert (
        app.rt.vault.open_text_for_case(case, f"msg/{stored[0].id}", "body", stored[0].body_enc)
        == words
    )
    # /sos with words after it keeps the words, not the command.
    other = TgUser(7702, "Q", language_code="ru")
    command(fake_api, other, "/sos мне страшно")
    await fake_api.wait_for_send(other.id, "Мы очень")
    other_case = await student_case(app, other.id)
    async with app.sessionmaker() as session:
        kept = (
            await session.scalars(select(CaseMessage).where(CaseMessage.case_id == other_case.id))
        ).all()
    assert [
        app.rt.vault.open_text_for_case(other_case, f"msg/{m.id}", "body", m.body_enc)
        for m in kept
        if m.body_enc is not None
    ] == ["мне страшно"]
