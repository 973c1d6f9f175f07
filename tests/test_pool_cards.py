"""The pool sees no words before a take (issue 15, point 4).

Cards and alerts to the pool (the new case's card, urgent alerts, the 5-minute re-alerts)
carry the case code, priority, category, place, waiting time and the lexicon's signals,
never what the student wrote or sent. The member who takes the case gets the words (the
history, then relays), all with protect_content; the others' cards are edited to "taken",
without saying by whom. A card deleted from its chat, or older than Telegram lets a bot
edit, is left alone without error.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.db.models import Member, OutboxMessage
from bot.delivery import notices
from bot.delivery.notices import Notice, Text
from bot.domain import ContentKind, Role
from bot.services.casework import cases, codes
from bot.services.routing import queue
from fake_telegram import Call, FakeBotAPI, TgUser
from tests.conftest import FakeClock
from tests.deadline_helpers import run_due
from tests.queue_helpers import (
    _outbox_empty,
    card_for,
    command,
    join,
    next_to,
    seed_places,
    settings,  # noqa: F401 - faster per-chat sending
    student_opens_case,
    take,
)

# Urgent (the lexicon reads 'не хочу жить'), with words of its own the pool must not read.
WORDS = "Айбек из 7Б каждый день отбирает у меня деньги, я больше не хочу жить"
OWN_WORDS = ("Айбек", "7Б", "отбирает у меня деньги", WORDS)
PHOTO_CAPTION = "Это Айбек после уроков"
LATER = "Сегодня он снова ждал меня у ворот"
SIGNALS = "Signals found: {signals}"
TAKEN = "✅ Case {code} has been taken; it no longer waits in the queue."


def _shows(call: Call, words: str) -> bool:
    """Whether a call carries `words` anywhere: its parameters or the message it made."""
    seen = json.dumps(call.params, ensure_ascii=False, default=str)
    if call.message is not None:
        seen += json.dumps(call.message, ensure_ascii=False, default=str)
    return words in seen


def _edits_to(api: FakeBotAPI, chat_id: int, start: int = 0) -> list[Call]:
    return [c for c in api.calls_of("editMessageText")[start:] if c.chat_id == chat_id]


async def _member(session: AsyncSession, app: App, user: TgUser) -> Member:
    pseudonym = app.rt.vault.pseudonyms.member_id(user.id)
    found = await session.scalar(select(Member).where(Member.pseudonym == pseudonym))
    assert found is not None
    return found


async def _cards_recorded(app: App, case_id: int, count: int) -> None:
    """The sender notes each card's message id just after Telegram accepted it."""
    await _outbox_empty(app)
    async with app.sessionmaker() as session:
        ids = (
            await session.scalars(
                select(OutboxMessage.message_id).where(OutboxMessage.card_case_id == case_id)
            )
        ).all()
    assert len(ids) == count and None not in ids, ids


async def test_the_pool_reads_no_words_and_the_taker_reads_them_all(
    app: App, fake_api: FakeBotAPI, clock: FakeClock
) -> None:
    places = await seed_places(app)
    alice, bob, carol = (TgUser(7100 + i, n, language_code="ru") for i, n in enumerate("ABC"))
    for user in (alice, bob, carol):
        await join(app, fake_api, user, Role.PSYCHOLOGIST, district=places.lenin)
    student = TgUser(7110, "Timur", language_code="ru")
    start = len(fake_api.calls)
    case = await student_opens_case(app, fake_api, student, WORDS, district=places.lenin)
    assert case.priority == "urgent"
    shown = codes.display(case.code)

    # The new case's card: what the case is, its signals, a Take button; none of the words.
    cards = {u.id: await card_for(fake_api, u.id, case.code, start) for u in (alice, bob, carol)}
    for card in cards.values():
        text = card.text or ""
        assert shown in text
        assert app.rt.tr("ru", SIGNALS, signals="").strip() in text
        assert "не хочу жить" in text  # the lexicon's label, not the student's sentence
        assert card.params.get("protect_content") is True
    # A photo before anyone takes the case: stored, sent to nobody.
    fake_api.photo_message(student, caption=PHOTO_CAPTION)
    await next_to(fake_api, student.id, len(fake_api.calls) - 1)

    # Five minutes untaken: the pool is alerted again, still without the words.
    start = len(fake_api.calls)
    clock.advance(minutes=5, seconds=10)
    await run_due(app)
    app.sender.poke()
    for user in (alice, bob, carol):
        await card_for(fake_api, user.id, case.code, start)
    await _cards_recorded(app, case.id, 6)

    # Carol deleted her first card meanwhile: Telegram will refuse to edit it.
    assert fake_api.delete_in_chat(carol.id, cards[carol.id].message["message_id"])  # type: ignore[index]

    # Bob takes the case: the words come to him, protected.
    start = len(fake_api.calls)
    history = await take(app, fake_api, bob, case.code)
    assert WORDS in (history.text or "") and PHOTO_CAPTION in (history.text or "")
    assert history.params.get("protect_content") is True
    photo = await fake_api.wait_for(
        lambda c: c.method == "sendPhoto" and c.chat_id == bob.id, 10, start=start
    )
    assert photo.params.get("protect_content") is True

    # Alice's two cards and Carol's remaining one now say "taken", their buttons gone.
    taken = app.rt.tr("ru", TAKEN, code=shown)
    assert taken != TAKEN
    edited = await fake_api.wait_for_count(
        lambda c: c.method == "editMessageText" and c.chat_id in (alice.id, carol.id),
        3,
        10,
        start=start,
    )
    for call in edited:
        assert call.text == taken
        assert call.message is not None and "reply_markup" not in call.message
    alice_cards = [m for m in fake_api.chat_messages(alice.id) if shown in (m.get("text") or "")]
    assert [m["text"] for m in alice_cards] == [taken, taken]
    # The edit of Carol's deleted card was refused, as Telegram refuses it; nobody was told.
    refused = await fake_api.wait_for(
        lambda c: c.method == "editMessageText" and c.chat_id == carol.id and not c.ok,
        10,
        start=start,
        include_failed=True,
    )
    await _outbox_empty(app)
    refused_calls = [c for c in _edits_to(fake_api, carol.id) if not c.ok]
    assert refused_calls == [refused] and refused.status == 400
    assert not _edits_to(fake_api, bob.id)  # the taker's own cards are his to keep
    assert not any(c.is_send for c in fake_api.calls[start:] if c.chat_id in (alice.id, carol.id))

    # Later words are relayed to Bob alone, protected.
    start = len(fake_api.calls)
    fake_api.text_message(student, LATER)
    relay = await next_to(fake_api, bob.id, start, LATER)
    assert relay.params.get("protect_content") is True
    await _outbox_empty(app)

    # The words reached no chat but Bob's (the student's own chat included).
    for call in fake_api.calls:
        if call.chat_id == bob.id:
            continue
        for words in (*OWN_WORDS, PHOTO_CAPTION, LATER):
            assert not _shows(call, words), (words, call.describe())
    for user in (alice, carol):
        assert not [c for c in fake_api.calls_to(user.id) if c.method == "sendPhoto"]


async def test_a_card_older_than_48_hours_is_left_alone(
    app: App, fake_api: FakeBotAPI, clock: FakeClock
) -> None:
    places = await seed_places(app)
    alice, bob = TgUser(7201, "A", language_code="kk"), TgUser(7202, "B", language_code="ky")
    for user in (alice, bob):
        await join(app, fake_api, user, Role.PSYCHOLOGIST, district=places.lenin)
    student = TgUser(7210, "S", language_code="ru")
    start = len(fake_api.calls)
    case = await student_opens_case(
        app, fake_api, student, "Можно спросить про экзамены?", district=places.lenin
    )
    card = await card_for(fake_api, alice.id, case.code, start)
    await _cards_recorded(app, case.id, 2)
    clock.advance(hours=48, minutes=1)
    start = len(fake_api.calls)
    await take(app, fake_api, bob, case.code)
    await _outbox_empty(app)
    assert not fake_api.calls_of("editMessageText")
    assert card.message is not None
    still = fake_api.message(alice.id, card.message["message_id"])
    assert still is not None and "reply_markup" in still  # untouched


async def test_taken_says_nothing_of_who_took_it_in_every_language(
    app: App, fake_api: FakeBotAPI
) -> None:
    places = await seed_places(app)
    takers = {}
    for i, lang in enumerate(("ky", "kk", "ru")):
        user = TgUser(7300 + i, "P", language_code=lang)
        takers[lang] = (
            user,
            await join(app, fake_api, user, Role.PSYCHOLOGIST, district=places.lenin),
        )
    taker = TgUser(7310, "T", language_code="ru")
    taker_member = await join(app, fake_api, taker, Role.PSYCHOLOGIST, district=places.lenin)
    student = TgUser(7320, "S", language_code="ru")
    start = len(fake_api.calls)
    case = await student_opens_case(
        app, fake_api, student, "Мне нужна помощь", district=places.lenin
    )
    for user, _member in takers.values():
        await card_for(fake_api, user.id, case.code, start)
    await _cards_recorded(app, case.id, 4)
    start = len(fake_api.calls)
    command(fake_api, taker, f"/take {case.code}")
    edits = await fake_api.wait_for_count(
        lambda c: c.method == "editMessageText", 3, 10, start=start
    )
    by_chat = {c.chat_id: c.text or "" for c in edits}
    texts = set()
    for lang, (user, _member) in takers.items():
        text = by_chat[user.id]
        assert text == app.rt.tr(lang, TAKEN, code=codes.display(case.code))
        texts.add(text)
        assert str(taker_member.id) not in text.replace(codes.display(case.code), "")
    assert len(texts) == 3  # ky, kk and ru each in their own words
    assert taker.id not in by_chat


async def test_an_edit_is_one_editmessagetext_of_that_message(app: App) -> None:
    """An edit notice replaces one message's text: no protect_content (Telegram's
    editMessageText takes none, the message keeps its own), no keyboard unless given (so the
    Take button goes), and never pages, a file or a header."""
    member = Member(language="kk")
    taken = Text(TAKEN, code="#7KQ2-M9XD")
    [(method, params)] = notices.calls(
        app.rt, Notice(member, taken, edits=42, protect_content=True)
    )
    assert method == "editMessageText"
    assert params == {"message_id": 42, "text": app.rt.tr("kk", TAKEN, code="#7KQ2-M9XD")}
    with pytest.raises(ValueError, match="an edit"):
        notices.calls(app.rt, Notice(member, taken, edits=42, header="#7KQ2-M9XD"))


async def test_after_a_release_the_next_take_edits_only_cards_not_yet_edited(
    app: App, fake_api: FakeBotAPI
) -> None:
    places = await seed_places(app)
    alice, bob, carol = (TgUser(7400 + i, n, language_code="ru") for i, n in enumerate("ABC"))
    for user in (alice, bob, carol):
        await join(app, fake_api, user, Role.PSYCHOLOGIST, district=places.lenin)
    student = TgUser(7410, "S", language_code="ru")
    start = len(fake_api.calls)
    case = await student_opens_case(app, fake_api, student, "Мне плохо", district=places.lenin)
    for user in (alice, bob, carol):
        await card_for(fake_api, user.id, case.code, start)
    await _cards_recorded(app, case.id, 3)
    await take(app, fake_api, bob, case.code)  # Alice's and Carol's first cards: taken
    start = len(fake_api.calls)
    command(fake_api, bob, f"/release {case.code}")
    # The release asks for a note for the next psychologist (tests/test_desk.py): skipped.
    await fake_api.wait_for(lambda c: f"hskip:{case.code}" in str(c.params), 10, start=start)
    fake_api.callback_query(bob, f"hskip:{case.code}:pool")
    for user in (alice, carol):  # the case is back: new cards, not Bob's
        await card_for(fake_api, user.id, case.code, start)
    await _outbox_empty(app)
    start = len(fake_api.calls)
    await take(app, fake_api, alice, case.code)
    await _outbox_empty(app)
    edits = [c for c in fake_api.calls[start:] if c.method == "editMessageText"]
    # Bob's first card (never edited: he took it) and Carol's new one; nothing edited twice.
    assert sorted(c.chat_id for c in edits) == [bob.id, carol.id]
    assert all(c.ok for c in fake_api.calls_of("editMessageText"))


async def test_a_card_still_in_the_outbox_when_the_case_is_taken_is_never_sent(
    app: App, fake_api: FakeBotAPI
) -> None:
    places = await seed_places(app)
    alice, bob = TgUser(7501, "A", language_code="ru"), TgUser(7502, "B", language_code="ru")
    for user in (alice, bob):
        await join(app, fake_api, user, Role.PSYCHOLOGIST, district=places.lenin)
    await _outbox_empty(app)
    start = len(fake_api.calls)
    # The case opens and Bob takes it before the sender gets to Alice's card.
    async with app.sessionmaker() as session, session.begin():
        student = await cases.get_or_create_student(session, app.rt, 7510)
        student.district_id, student.region_id = places.lenin, places.region
        student.language = "ru"
        content = cases.IncomingContent(ContentKind.TEXT, "Мне нужна помощь", None, 1)
        opened = await cases.submit_student_message(session, app.rt, student, 7510, content)
        bob_member = await _member(session, app, bob)
        await queue.claim(session, app.rt, bob_member, opened.case_code)
    await _outbox_empty(app)
    assert not [c for c in fake_api.calls[start:] if c.chat_id == alice.id]
    assert [c for c in fake_api.calls[start:] if c.chat_id == bob.id]  # Bob's card went
    async with app.sessionmaker() as session:
        dropped = (
            await session.scalars(
                select(OutboxMessage.error).where(
                    OutboxMessage.member_id == (await _member(session, app, alice)).id,
                    OutboxMessage.status == "dropped",
                )
            )
        ).all()
    assert dropped == ["case taken"]
