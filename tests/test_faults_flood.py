"""Floods and abuse: limits per pseudonym answered like any message, nothing written is
dropped, a psychologist can mute a case, and one account's flood does not hold up others."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.app import App
from bot.db.models import Case, CaseMessage, ProcessedUpdate
from bot.services.casework import codes
from fake_telegram import FakeBotAPI, TgUser
from tests.conftest import FakeClock
from tests.faults.support import (
    case_of,
    command,
    eventually,
    psychologist,
    sent_to,
    settled,
    stored_texts,
)


async def _take(app: App, fake_api: FakeBotAPI, user: TgUser, psy: TgUser) -> Case:
    await psychologist(app, psy)
    fake_api.text_message(user, "привет")
    await fake_api.wait_for(lambda c: c.chat_id == user.id and c.is_send)
    case = await case_of(app, user)
    start = len(fake_api.calls)
    command(fake_api, psy, f"/take {case.code}")
    await fake_api.wait_for(lambda c: c.chat_id == user.id and c.is_send, start=start)
    await settled(app, fake_api)
    return case


async def test_over_the_minute_limit_everything_is_kept_and_answered_like_anyone(
    app: App, fake_api: FakeBotAPI, clock: FakeClock
):
    app.rt.settings.student_messages_per_minute = 4
    user, psy = TgUser(8001, "Asel", language_code="ru"), TgUser(8901, "Psy")
    case = await _take(app, fake_api, user, psy)  # "привет" is the first of this minute
    start = len(fake_api.calls)
    texts = [f"сообщение {i}" for i in range(1, 9)]
    for text in texts:
        fake_api.text_message(user, text)
    # 3 more within the limit, then one acknowledgement for everything over it. A message
    # the triage reads as high risk may also bring, once a day, the question "are you in
    # danger right now?" (bot.services.casework.safety): it is not an acknowledgement.
    question = app.rt.tr(
        "ru",
        "Can I ask you something important? Are you in danger right "
        "now, or are you thinking of hurting yourself?",
    )
    acks = await fake_api.wait_for_count(
        lambda c: c.chat_id == user.id and c.is_send and c.text != question,
        4,
        start=start,
        timeout=15,
    )
    note = await fake_api.wait_for(
        lambda c: c.chat_id == psy.id and "/mute" in (c.text or ""), start=start, timeout=15
    )
    await eventually(lambda: _stored(app, case.id, 9), what="every message stored")
    assert await stored_texts(app, case.id) == ["привет", *texts]
    received = app.rt.tr("ru", "Received ✓")
    assert [c.text for c in acks] == [received] * 4  # the same answer as anyone gets
    assert codes.display(case.code) in (note.text or "")
    to_psy = [c.text or "" for c in sent_to(fake_api, psy.id, start)]
    relayed = [t for t in texts if any(t in line.split("\n") for line in to_psy)]
    assert relayed == texts[:3]  # within the limit one by one, the rest only kept
    assert sum("/mute" in line for line in to_psy) == 1
    to_student = [c.text for c in sent_to(fake_api, user.id, start)]
    assert len([t for t in to_student if t != question]) == 4
    assert to_student.count(question) <= 1

    clock.advance(seconds=61)  # a new window: relayed and acknowledged one by one again
    start = len(fake_api.calls)
    fake_api.text_message(user, "новая минута")
    await fake_api.wait_for_send(psy.id, "новая минута", start=start)
    await fake_api.wait_for_send(user.id, received, start=start)


async def _stored(app: App, case_id: int, expected: int) -> bool:
    async with app.sessionmaker() as session:
        found = await session.scalar(
            select(func.count()).select_from(CaseMessage).where(CaseMessage.case_id == case_id)
        )
        return found == expected


async def test_new_cases_per_day_are_limited_without_a_word_about_it(
    app: App, fake_api: FakeBotAPI, clock: FakeClock
):
    app.rt.settings.student_new_cases_per_day = 2
    user = TgUser(8002, "Bakyt", language_code="ru")
    for i in range(3):
        start = len(fake_api.calls)
        fake_api.text_message(user, f"обращение {i}")
        await fake_api.wait_for(lambda c: c.chat_id == user.id and c.is_send, start=start)
        start = len(fake_api.calls)
        command(fake_api, user, "/new")
        await fake_api.wait_for(lambda c: c.chat_id == user.id and c.is_send, start=start)
    async with app.sessionmaker() as session:
        all_cases = (await session.scalars(select(Case).order_by(Case.id))).all()
    assert len(all_cases) == 2  # the third message joined the second case
    assert await stored_texts(app, all_cases[1].id) == ["обращение 1", "обращение 2"]

    clock.advance(days=1, seconds=1)  # a new day: /new opens a case again
    start = len(fake_api.calls)
    fake_api.text_message(user, "на следующий день")
    await fake_api.wait_for(lambda c: c.chat_id == user.id and c.is_send, start=start)
    async with app.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Case)) == 3


async def test_a_muted_case_keeps_everything_and_the_student_notices_nothing(
    app: App, fake_api: FakeBotAPI
):
    user, psy = TgUser(8003, "Chyngyz", language_code="ru"), TgUser(8903, "Psy")
    other = TgUser(8904, "Other psy")
    case = await _take(app, fake_api, user, psy)
    await psychologist(app, other)
    code = codes.display(case.code)

    command(fake_api, other, f"/mute {code}")  # not theirs
    command(fake_api, psy, f"/mute {code}")
    await settled(app, fake_api)
    async with app.sessionmaker() as session:
        stored = await session.get(Case, case.id)
        assert stored is not None and stored.muted

    start = len(fake_api.calls)
    fake_api.text_message(user, "ты меня слышишь?")
    ack = await fake_api.wait_for(lambda c: c.chat_id == user.id and c.is_send, start=start)
    assert ack.text == app.rt.tr("ru", "Received ✓")
    await eventually(lambda: _stored(app, case.id, 2), what="stored while muted")
    assert sent_to(fake_api, psy.id, start) == []  # not relayed

    command(fake_api, psy, f"/unmute {code}")
    await settled(app, fake_api)
    start = len(fake_api.calls)
    fake_api.text_message(user, "снова здесь")
    await fake_api.wait_for_send(psy.id, "снова здесь", start=start)


FLOOD = 10_000
OTHER_AT = 150


async def test_a_flood_of_ten_thousand_does_not_hold_up_another_student(
    app: App, fake_api: FakeBotAPI
):
    """The flood sits ahead of the other student in Telegram's queue; the other student is
    answered as soon as their update is reached, long before the flood is worked off, and
    the flood leaves no backlog of answers behind."""
    fake_api.rate_limits(global_per_s=30, per_chat_per_s=1)
    flooder, other = (
        TgUser(8010, "Flood", language_code="ru"),
        TgUser(8011, "Dinara", language_code="ru"),
    )
    for i in range(FLOOD):
        if i == OTHER_AT:
            fake_api.text_message(other, "мне нужна помощь")
        fake_api.text_message(flooder, f"спам {i}")
    ack = await fake_api.wait_for(lambda c: c.chat_id == other.id and c.is_send, timeout=60)
    assert ack.text and ack.text != app.rt.tr("ru", "Received ✓")  # the opening answer
    assert fake_api.pending_updates > FLOOD // 2  # answered in the middle of the flood
    limit = app.rt.settings.student_messages_per_minute
    assert len(fake_api.calls_to(flooder.id)) <= limit + 2  # answers coalesce

    fake_api._updates.clear()  # the flood stops here; what was received is all kept

    async def all_kept() -> bool:
        async with app.sessionmaker() as session:
            handled = await session.scalar(select(func.count()).select_from(ProcessedUpdate))
            kept = await session.scalar(select(func.count()).select_from(CaseMessage))
            return bool(handled) and handled == kept

    await eventually(all_kept, timeout=30, what="every handled message stored")
    assert fake_api.too_many_requests == 0
