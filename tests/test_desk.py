"""The psychologist's desk (issue 18): /mine, and /queue telling what one holds."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from bot.app import App
from bot.db.models import AuditEntry, Case, CaseMessage, Region, ReplyTemplate
from bot.domain import PRIORITY_RANK, Author, CaseStatus, Priority, Role
from bot.services.casework import cases, codes
from fake_telegram import FakeBotAPI, TgUser
from tests.conftest import FakeClock
from tests.queue_helpers import (
    answered_callback,
    card_for,
    case_by_id,
    command,
    join,
    next_to,
    seed_places,
    settings,  # noqa: F401 - faster per-chat sending
    student_case,
    student_opens_case,
    take,
)


def _buttons(call: object) -> list[str]:
    markup = call.params.get("reply_markup") or {}  # type: ignore[attr-defined]
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]


async def _make_urgent(app: App, case_id: int) -> None:
    async with app.sessionmaker() as session, session.begin():
        await session.execute(
            update(Case)
            .where(Case.id == case_id)
            .values(priority=Priority.URGENT, priority_rank=PRIORITY_RANK[Priority.URGENT])
        )


async def test_mine_lists_held_cases_urgent_first(app: App, fake_api: FakeBotAPI) -> None:
    places = await seed_places(app)
    psy = TgUser(18101, "Psy", language_code="ru")
    await join(app, fake_api, psy, Role.PSYCHOLOGIST, district=places.lenin)
    other = TgUser(18102, "Other", language_code="ru")
    await join(app, fake_api, other, Role.PSYCHOLOGIST, district=places.lenin)
    tr = app.rt.tr

    start = len(fake_api.calls)
    command(fake_api, psy, "/mine")
    empty = await next_to(fake_api, psy.id, start)
    assert empty.text == tr(
        "ru", "You hold no cases right now. /queue shows the cases you can take."
    )

    first = TgUser(18103, "A", language_code="ru")
    second = TgUser(18104, "B", language_code="ru")
    answered = await student_opens_case(app, fake_api, first, "Мне плохо", district=places.lenin)
    waiting = await student_opens_case(app, fake_api, second, "Меня травят", district=places.lenin)
    await take(app, fake_api, psy, answered.code)
    start = len(fake_api.calls)
    fake_api.text_message(psy, "Я здесь, расскажи")
    await next_to(fake_api, first.id, start, "Я здесь, расскажи")
    await take(app, fake_api, psy, waiting.code)
    await _make_urgent(app, answered.id)

    # Nothing is left open in the pool, yet /queue says what I hold and where to look.
    start = len(fake_api.calls)
    command(fake_api, psy, "/queue")
    queue_answer = await next_to(fake_api, psy.id, start)
    assert tr("ru", "No open cases in your pool right now.") in (queue_answer.text or "")
    assert tr("ru", "Cases you hold: {count}. /mine lists them.", count=2) in (
        queue_answer.text or ""
    )
    # Someone who holds nothing is not told about holding.
    start = len(fake_api.calls)
    command(fake_api, other, "/queue")
    other_queue = await next_to(fake_api, other.id, start)
    assert "/mine" not in (other_queue.text or "")

    start = len(fake_api.calls)
    command(fake_api, psy, "/mine")
    mine = await next_to(fake_api, psy.id, start, codes.display(waiting.code))
    lines = (mine.text or "").splitlines()
    assert lines[0] == tr(
        "ru", "Cases you hold: {total}. Urgent first, then the student waiting longest.", total=2
    )
    # The urgent case first, though its student is not waiting; then the waiting one.
    assert codes.display(answered.code) in lines[1] and "🔴" in lines[1]
    assert tr("ru", "your answer was the last") in lines[1]
    assert codes.display(waiting.code) in lines[2]
    assert tr("ru", "⏳ the student is waiting for you: {wait}", wait="").rstrip() in lines[2]
    assert tr("ru", "last message {time}", time="").rstrip() in lines[2]
    # Not a word of what the students wrote.
    assert "Мне плохо" not in (mine.text or "") and "Меня травят" not in (mine.text or "")
    assert _buttons(mine) == [
        f"open:{answered.code}",
        f"tfor:{answered.code}",
        f"open:{waiting.code}",
        f"tfor:{waiting.code}",
    ]

    # A button opens the case: its conversation, as /case shows it.
    start = len(fake_api.calls)
    fake_api.callback_query(psy, f"open:{waiting.code}", message=mine.message)
    history = await next_to(fake_api, psy.id, start, "Меня травят")
    assert codes.display(waiting.code) in (history.text or "")
    assert history.params.get("protect_content") is True

    # The student answers my reply: the case no longer waits for me.
    start = len(fake_api.calls)
    fake_api.text_message(psy, "Держись, я рядом")  # to the active case: the second one
    await next_to(fake_api, second.id, start, "Держись, я рядом")
    start = len(fake_api.calls)
    command(fake_api, psy, "/mine")
    mine = await next_to(fake_api, psy.id, start, codes.display(waiting.code))
    assert "⏳" not in (mine.text or "")


async def test_mine_buttons_refuse_what_is_not_mine(app: App, fake_api: FakeBotAPI) -> None:
    places = await seed_places(app)
    psy = TgUser(18201, "Psy", language_code="kk")
    await join(app, fake_api, psy, Role.PSYCHOLOGIST, district=places.lenin)
    other = TgUser(18202, "Other", language_code="ru")
    await join(app, fake_api, other, Role.PSYCHOLOGIST, district=places.lenin)
    student = TgUser(18203, "S", language_code="ru")
    case = await student_opens_case(app, fake_api, student, "Помогите", district=places.lenin)
    await take(app, fake_api, other, case.code)

    # Another member's case: refused, and nothing of it is shown.
    start = len(fake_api.calls)
    fake_api.callback_query(psy, f"open:{case.code}")
    refused = await answered_callback(fake_api, start)
    assert refused.params.get("show_alert") is True
    assert refused.params.get("text") == app.rt.tr(
        "kk",
        "Case {code} is not with you. /queue shows the cases you can take.",
        code=codes.display(case.code),
    )
    assert not [c for c in fake_api.calls[start:] if c.chat_id == psy.id and c.is_send]

    # A forged or malformed code: the button is no longer active, nothing happens.
    for data in ("open:0000", "open:ZZZZZZZZ"):
        start = len(fake_api.calls)
        fake_api.callback_query(psy, data)
        answer = await answered_callback(fake_api, start)
        assert answer.params.get("text") in (
            app.rt.tr("kk", "This button is no longer active."),
            app.rt.tr("kk", "There is no case with this code. A code looks like #7KQ2-M9XD."),
        )
        assert not [c for c in fake_api.calls[start:] if c.chat_id == psy.id and c.is_send]

    # The help names /mine, in the member's language.
    start = len(fake_api.calls)
    command(fake_api, psy, "/nonsense")
    helped = await next_to(fake_api, psy.id, start)
    assert "/mine" in (helped.text or "")


# --- off-hours: the clock alone does not decide ----------------------------------------

OFF_HOURS = (
    "Psychologists are not at work right now. Your message is saved; expect an answer "
    "after {time} tomorrow. If you need to talk to someone now, call 111: it answers around the "
    "clock and is free."
)
NOT_TAKEN_NIGHT = (
    "Your message is saved and the psychologists have been alerted; one of them will write to "
    "you here as soon as possible."
)
TAKEN_NIGHT = (
    "Your message is saved and your psychologist has been alerted; they will write to you here "
    "as soon as they can."
)
BISHKEK = ZoneInfo("Asia/Bishkek")
TAKEN_NOW = "Your psychologist has been alerted right now and will write to you here."


async def _night(app: App, clock: FakeClock, region: int) -> None:
    """Bishkek's region at 23:10 local time, its psychologists at work 9 to 18."""
    async with app.sessionmaker() as session, session.begin():
        await session.execute(
            update(Region)
            .where(Region.id == region)
            .values(timezone="Asia/Bishkek", work_start_hour=9, work_end_hour=18)
        )
    now = clock().astimezone(BISHKEK)
    target = now.replace(hour=23, minute=10, second=0, microsecond=0)
    if target <= now:
        target += timedelta(days=1)
    clock.advance(seconds=(target - now).total_seconds())


async def _first_reply(app: App, api: FakeBotAPI, user: TgUser, text: str) -> str:
    start = len(api.calls)
    api.text_message(user, text)
    ack = await api.wait_for_send(user.id, start=start)
    return ack.text or ""


async def _sos_reply(api: FakeBotAPI, user: TgUser) -> str:
    start = len(api.calls)
    command(api, user, "/sos")
    reply = await api.wait_for_send(user.id, start=start)
    return reply.text or ""


async def test_off_hours_note_only_when_nobody_is_answering(
    app: App, fake_api: FakeBotAPI, clock: FakeClock
) -> None:
    places = await seed_places(app)
    psy = TgUser(18301, "Psy", language_code="ru")
    await join(app, fake_api, psy, Role.PSYCHOLOGIST, district=places.lenin)
    await _night(app, clock, places.region)
    tr = app.rt.tr
    note = tr("ky", OFF_HOURS, time="09:00")

    # Nobody has answered anything: the night note, and the urgent reply says the truth of
    # an untaken case.
    first = TgUser(18302, "A", language_code="ky")
    async with app.sessionmaker() as session, session.begin():
        student = await cases.get_or_create_student(session, app.rt, first.id)
        student.district_id, student.region_id = places.lenin, places.region
        student.language = "ky"
    assert note in await _first_reply(app, fake_api, first, "салам")
    first_case = await student_case(app, first)
    untaken = await _sos_reply(fake_api, first)
    assert tr("ky", NOT_TAKEN_NIGHT) in untaken

    # The psychologist takes it and answers, late at night.
    await take(app, fake_api, psy, first_case.code)
    start = len(fake_api.calls)
    fake_api.text_message(psy, "Мен бул жердемин")
    await next_to(fake_api, first.id, start, "Мен бул жердемин")

    # Another student of the pool writes: psychologists are answering, no "not at work".
    second = TgUser(18303, "B", language_code="ky")
    async with app.sessionmaker() as session, session.begin():
        student = await cases.get_or_create_student(session, app.rt, second.id)
        student.district_id, student.region_id = places.lenin, places.region
        student.language = "ky"
    ack = await _first_reply(app, fake_api, second, "жардам керек")
    assert "111" not in ack and note not in ack
    # The first student presses 🆘 (ten minutes on): their psychologist is at work and
    # alerted; never "one of them".
    clock.advance(minutes=11)
    taken = await _sos_reply(fake_api, first)
    assert tr("ky", TAKEN_NOW) in taken and tr("ky", NOT_TAKEN_NIGHT) not in taken

    # Two hours of silence later it is night again for everyone.
    clock.advance(hours=2)
    third = TgUser(18304, "C", language_code="ky")
    async with app.sessionmaker() as session, session.begin():
        student = await cases.get_or_create_student(session, app.rt, third.id)
        student.district_id, student.region_id = places.lenin, places.region
        student.language = "ky"
    ack = await _first_reply(app, fake_api, third, "салам")
    assert tr("ky", OFF_HOURS.replace("tomorrow", "today"), time="09:00") in ack
    late = await _sos_reply(fake_api, first)
    assert tr("ky", TAKEN_NIGHT) in late and tr("ky", NOT_TAKEN_NIGHT) not in late


# --- hand-over notes -------------------------------------------------------------------

HANDED_ON = (
    "Your psychologist has handed your conversation to a colleague, who will continue it "
    "here. Everything you wrote stays confidential."
)
NOTE_LINE = "📝 Note from the previous psychologist: {note}"


async def _note_asked(api: FakeBotAPI, user: TgUser, code: str, start: int) -> None:
    await api.wait_for(
        lambda c: c.chat_id == user.id and f"hskip:{code}" in str(c.params), 10, start=start
    )


async def test_handover_note_goes_to_the_next_psychologist_only(
    app: App, fake_api: FakeBotAPI
) -> None:
    places = await seed_places(app)
    alice, bob = (
        TgUser(18401, "Alice", language_code="ru"),
        TgUser(18402, "Bob", language_code="kk"),
    )
    a = await join(app, fake_api, alice, Role.PSYCHOLOGIST, district=places.lenin)
    b = await join(app, fake_api, bob, Role.PSYCHOLOGIST, district=places.lenin)
    student = TgUser(18403, "Kid", language_code="ru")
    case = await student_opens_case(app, fake_api, student, "мне страшно", district=places.lenin)
    await take(app, fake_api, alice, case.code)
    tr = app.rt.tr

    # Transfer to Bob: the choice asks for a note; bad notes are refused, nothing moves.
    start = len(fake_api.calls)
    command(fake_api, alice, "/transfer")
    offer = await fake_api.wait_for(
        lambda c: c.chat_id == alice.id and "reply_markup" in c.params, 10, start=start
    )
    fake_api.callback_query(alice, f"tr:{case.code}:{b.id}", message=offer.message)
    await _note_asked(fake_api, alice, case.code, start)
    start = len(fake_api.calls)
    fake_api.photo_message(alice, caption="")
    refused = await next_to(fake_api, alice.id, start)
    assert refused.text == tr(
        "ru", "The note must be text, and not empty. Write it again, or press Skip."
    )
    start = len(fake_api.calls)
    fake_api.text_message(alice, "я" * 1001)
    refused = await next_to(fake_api, alice.id, start)
    assert refused.text == tr(
        "ru",
        "The note is too long: {length} characters, at most {limit}. Shorten it, or press Skip.",
        length=1001,
        limit=1000,
    )
    stored = await case_by_id(app, case.id)
    assert stored.psychologist_id == a.id
    assert not [
        c for c in fake_api.calls if c.chat_id == student.id and "я" * 50 in (c.text or "")
    ]

    start = len(fake_api.calls)
    fake_api.text_message(alice, "Боится идти домой, говорить мягко")
    card = await next_to(fake_api, bob.id, start, codes.display(case.code))
    assert tr("kk", NOTE_LINE, note="Боится идти домой, говорить мягко") in (card.text or "")
    assert card.params.get("protect_content") is True
    told = await next_to(fake_api, student.id, start)
    assert told.text == tr("ru", HANDED_ON)
    stored = await case_by_id(app, case.id)
    assert stored.psychologist_id == b.id and stored.handover_note_enc is None
    # The Skip button of a hand-over already done changes nothing.
    before = len(fake_api.calls)
    fake_api.callback_query(alice, f"hskip:{case.code}:{b.id}")
    stale = await answered_callback(fake_api, before)
    assert stale.params.get("text") == tr("ru", "This button is no longer active.")
    assert (await case_by_id(app, case.id)).psychologist_id == b.id

    # Bob releases it with a note: sealed on the case, not on the pool's cards.
    start = len(fake_api.calls)
    command(fake_api, bob, "/release")
    await _note_asked(fake_api, bob, case.code, start)
    fake_api.text_message(bob, "Позвонить в понедельник")
    pool_card = await card_for(fake_api, alice.id, case.code, start)
    assert "Позвонить" not in (pool_card.text or "")
    told = await next_to(fake_api, student.id, start)
    assert told.text == tr("ru", HANDED_ON)
    stored = await case_by_id(app, case.id)
    assert stored.status == CaseStatus.OPEN and stored.handover_note_enc is not None
    assert "Позвонить".encode() not in stored.handover_note_enc
    # Nothing of either note ever reached the student.
    for text in fake_api.sent_texts(student.id):
        assert "Боится" not in text and "Позвонить" not in text

    # Whoever takes it next reads the note, once.
    start = len(fake_api.calls)
    command(fake_api, alice, f"/take {case.code}")
    shown = await next_to(fake_api, alice.id, start, "Позвонить в понедельник")
    assert shown.text == tr("ru", NOTE_LINE, note="Позвонить в понедельник")
    assert shown.params.get("protect_content") is True
    await next_to(fake_api, alice.id, start, "мне страшно")  # then the history
    assert (await case_by_id(app, case.id)).handover_note_enc is None


async def test_release_without_a_note(app: App, fake_api: FakeBotAPI) -> None:
    places = await seed_places(app)
    psy = TgUser(18501, "Psy", language_code="ky")
    await join(app, fake_api, psy, Role.PSYCHOLOGIST, district=places.lenin)
    student = TgUser(18502, "Kid", language_code="ky")
    case = await student_opens_case(app, fake_api, student, "жардам", district=places.lenin)
    await take(app, fake_api, psy, case.code)
    start = len(fake_api.calls)
    command(fake_api, psy, "/release")
    await _note_asked(fake_api, psy, case.code, start)
    assert (await case_by_id(app, case.id)).status == CaseStatus.CLAIMED  # not before the note
    fake_api.callback_query(psy, f"hskip:{case.code}:pool")
    await next_to(
        fake_api,
        psy.id,
        start,
        app.rt.tr("ky", "Case {code} went back to the pool.", code=codes.display(case.code)),
    )
    stored = await case_by_id(app, case.id)
    assert stored.status == CaseStatus.OPEN and stored.handover_note_enc is None
    told = await next_to(fake_api, student.id, start)
    assert told.text == app.rt.tr("ky", HANDED_ON)
    # With no hand-over pending, what the psychologist writes is no note: a plain refusal.
    start = len(fake_api.calls)
    fake_api.text_message(psy, "кимге?")
    answer = await next_to(fake_api, psy.id, start)
    assert answer.text == app.rt.tr(
        "ky", "No case is active. Take one from /queue, or reply to a message of the case."
    )


# --- saved replies ---------------------------------------------------------------------


async def _send_and_read(api: FakeBotAPI, user: TgUser, text: str) -> str:
    start = len(api.calls)
    if text.startswith("/"):
        command(api, user, text)
    else:
        api.text_message(user, text)
    return (await next_to(api, user.id, start)).text or ""


async def _press(api: FakeBotAPI, user: TgUser, data: str) -> Any:
    start = len(api.calls)
    api.callback_query(user, data)
    return await answered_callback(api, start)


async def test_saved_replies(app: App, fake_api: FakeBotAPI) -> None:
    places = await seed_places(app)
    tr = app.rt.tr
    psy = TgUser(18601, "Psy", language_code="ru")
    me = await join(app, fake_api, psy, Role.PSYCHOLOGIST, district=places.lenin)
    other = TgUser(18602, "Other", language_code="ru")
    await join(app, fake_api, other, Role.PSYCHOLOGIST, district=places.lenin)
    boss = TgUser(18603, "Boss", language_code="ky")
    await join(app, fake_api, boss, Role.SUPERVISOR, district=places.lenin)
    student = TgUser(18604, "Kid", language_code="ky")
    case = await student_opens_case(
        app, fake_api, student, "мени уруп жатышат", district=places.lenin
    )
    await take(app, fake_api, psy, case.code)
    kyrgyz = "Кыргызча"

    # The active case is in Kyrgyz: the Kyrgyz list, empty so far.
    assert await _send_and_read(fake_api, psy, "/templates") == tr(
        "ru", "No saved replies in {language} yet. /templates add saves one.", language=kyrgyz
    )
    # Too long for one Telegram message in UTF-16 units (2,049 emoji are 4,098 units), and
    # not text at all: refused, and the draft still waits.
    too_long = tr(
        "ru",
        "A saved reply must be text, not empty, and fit in one Telegram message (4096 "
        "characters). Write it again.",
    )
    await _send_and_read(fake_api, psy, "/templates add")
    assert await _send_and_read(fake_api, psy, "😀" * 2049) == too_long
    start = len(fake_api.calls)
    fake_api.photo_message(psy, caption="")
    assert (await next_to(fake_api, psy.id, start)).text == too_long
    saved = await _send_and_read(fake_api, psy, "Саламатсызбы! Мен сени угуп жатам.")
    async with app.sessionmaker() as session:
        mine = (
            await session.scalars(select(ReplyTemplate).where(ReplyTemplate.member_id == me.id))
        ).all()
    assert len(mine) == 1 and mine[0].language == "ky"
    assert "Саламат".encode() not in mine[0].body_enc
    own_id = mine[0].id
    assert saved == tr(
        "ru",
        "Saved as №{number} ({language}). /templates lists your saved replies.",
        number=own_id,
        language=kyrgyz,
    )
    # Nothing of the draft reached the student.
    assert not [t for t in fake_api.sent_texts(student.id) if "Саламат" in t or "😀" in t]

    # Another psychologist's template, and the supervisor's shared set.
    await _send_and_read(fake_api, other, "/templates add")
    await _send_and_read(fake_api, other, "Чужой ответ")
    await _send_and_read(fake_api, boss, "/templates add")
    await _send_and_read(fake_api, boss, "111 иштейт күнү-түнү.")
    async with app.sessionmaker() as session:
        others = {
            t.member_id: t.id
            for t in (await session.scalars(select(ReplyTemplate))).all()
            if t.member_id != me.id
        }
    other_id, boss_id = sorted(others.values())
    shared = await _send_and_read(fake_api, boss, "/templates share")
    assert "1" in shared
    assert await _send_and_read(fake_api, psy, "/templates share") == tr(
        "ru", "Only a supervisor of a district can share saved replies with it."
    )

    # From /mine: the case's list, mine and the district's, each with a Send button.
    start = len(fake_api.calls)
    command(fake_api, psy, "/mine")
    listing_of_mine = await next_to(fake_api, psy.id, start, codes.display(case.code))
    assert f"tfor:{case.code}" in _buttons(listing_of_mine)
    start = len(fake_api.calls)
    fake_api.callback_query(psy, f"tfor:{case.code}", message=listing_of_mine.message)
    listing = await next_to(
        fake_api, psy.id, start, tr("ru", "Saved replies in {language}:", language=kyrgyz)
    )
    assert f"№{own_id}: Саламатсызбы!" in (listing.text or "")
    assert tr("ru", "(shared by your district)") in (listing.text or "")
    assert "Чужой" not in (listing.text or "")
    assert _buttons(listing) == [
        f"tuse:{case.code}:{own_id}",
        f"tdel:{own_id}",
        f"tuse:{case.code}:{boss_id}",
    ]

    # Using one is an ordinary answer: labelled, stored sealed, audited.
    start = len(fake_api.calls)
    fake_api.callback_query(psy, f"tuse:{case.code}:{own_id}", message=listing.message)
    answer = await next_to(fake_api, student.id, start, "Мен сени угуп жатам")
    assert (answer.text or "").startswith(tr("ky", "💬 The psychologist:"))
    start = len(fake_api.calls)
    fake_api.callback_query(psy, f"tuse:{case.code}:{boss_id}", message=listing.message)
    await next_to(fake_api, student.id, start, "111 иштейт")
    async with app.sessionmaker() as session:
        authors = (
            await session.scalars(select(CaseMessage.author).where(CaseMessage.case_id == case.id))
        ).all()
        events = (
            await session.scalars(
                select(AuditEntry.event).where(AuditEntry.case_code == case.code)
            )
        ).all()
    assert list(authors).count(Author.PSYCHOLOGIST) == 2
    assert list(events).count("psychologist_message") == 2

    # Bad input: an unknown number, another member's template, a case not mine.
    not_found = tr("ru", "There is no saved reply with this number that you can use.")
    for data in (
        f"tuse:{case.code}:999999",
        f"tuse:{case.code}:{other_id}",
        f"tdel:{other_id}",
        f"tdel:{boss_id}",
    ):
        refused = await _press(fake_api, psy, data)
        assert refused.params.get("text") == not_found, data
    refused = await _press(fake_api, other, f"tuse:{case.code}:{other_id}")
    assert refused.params.get("text") == tr(
        "ru",
        "Case {code} is not with you. /queue shows the cases you can take.",
        code=codes.display(case.code),
    )
    assert len([t for t in fake_api.sent_texts(student.id) if "Чужой" in t]) == 0

    # Delete my own.
    start = len(fake_api.calls)
    fake_api.callback_query(psy, f"tdel:{own_id}")
    await next_to(
        fake_api, psy.id, start, tr("ru", "Saved reply №{number} deleted.", number=own_id)
    )
    async with app.sessionmaker() as session:
        assert await session.get(ReplyTemplate, own_id) is None
    listing_text = await _send_and_read(fake_api, psy, "/templates")
    assert f"№{own_id}" not in listing_text and f"№{boss_id}" in listing_text
