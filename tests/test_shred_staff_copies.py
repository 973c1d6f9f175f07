"""Copies in staff chats (issue 15, point 5): when a case is shredded (or its student uses
/forget), the messages the bot put into psychologists' chats about it are deleted while
Telegram still allows it (48 hours); older ones stay (the README says so). The fake Bot API
refuses what Telegram refuses: a deleteMessage for a message sent 48 hours ago or more."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest
from sqlalchemy import select

from bot.app import App
from bot.config import Settings
from bot.db.models import Case, Member, OutboxMessage
from bot.services.routing import queue
from bot.services.security import retention
from fake_telegram import FakeBotAPI, TgUser
from tests.conftest import TEST_TOKEN, FakeClock
from tests.faults.support import case_of, command, psychologist, settled, stored_texts

HOURS_48 = 48 * 3600


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"retention_days": 1})


@pytest.fixture
async def bot(fake_api: FakeBotAPI) -> AsyncIterator[Bot]:
    made = Bot(
        TEST_TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(fake_api.base_url))
    )
    yield made
    await made.session.close()


async def test_the_fake_refuses_to_delete_a_message_48_hours_old(
    fake_api: FakeBotAPI, bot: Bot
) -> None:
    fresh = await bot.send_message(77, "one")
    old = await bot.send_message(77, "two")
    stored = fake_api.message(77, old.message_id)
    assert stored is not None
    stored["date"] -= HOURS_48  # sent 48 hours ago
    with pytest.raises(TelegramBadRequest, match="message can't be deleted"):
        await bot.delete_message(77, old.message_id)
    assert fake_api.message(77, old.message_id) is not None  # still there
    stored["date"] += 60  # a minute younger than that: still allowed
    assert await bot.delete_message(77, old.message_id) is True
    assert await bot.delete_message(77, fresh.message_id) is True
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(77, fresh.message_id)


async def _relayed_case(app: App, fake_api: FakeBotAPI, user: TgUser, psy: TgUser) -> Case:
    """A student writes twice, a psychologist takes the case in between (the words reach
    their chat as relays) and closes it."""
    member = await psychologist(app, psy)
    fake_api.text_message(user, "мне плохо дома")
    await settled(app, fake_api)
    case = await case_of(app, user)
    command(fake_api, psy, f"/take {case.code}")
    await settled(app, fake_api)
    fake_api.text_message(user, "отчим опять кричал")
    await settled(app, fake_api)
    async with app.sessionmaker() as session, session.begin():
        holder, stored = await session.get(Member, member.id), await session.get(Case, case.id)
        assert holder is not None and stored is not None
        await queue.close(session, app.rt, holder, stored, "resolved")
    await settled(app, fake_api)
    return case


async def _relays(app: App, case: Case) -> list[int]:
    async with app.sessionmaker() as session:
        found = await session.scalars(
            select(OutboxMessage.message_id).where(
                OutboxMessage.relay_case_id == case.id, OutboxMessage.message_id.is_not(None)
            )
        )
        return [m for m in found.all() if m is not None]


def _texts(fake_api: FakeBotAPI, chat_id: int) -> str:
    return " ".join(str(m.get("text", "")) for m in fake_api.chat_messages(chat_id))


async def test_a_shred_deletes_the_copies_in_staff_chats_within_48_hours(
    app: App, fake_api: FakeBotAPI, clock: FakeClock
) -> None:
    user, psy = TgUser(9401, "Aruzhan"), TgUser(9491, "Psy")
    case = await _relayed_case(app, fake_api, user, psy)
    relays = await _relays(app, case)
    assert relays and all(fake_api.message(psy.id, m) is not None for m in relays)
    assert "отчим опять кричал" in _texts(fake_api, psy.id)

    clock.advance(days=1, hours=2)  # past the 1-day retention, 26 hours after the relays
    start = len(fake_api.calls)
    report = await retention.run_retention(app.sessionmaker, app.rt)
    assert report.cases_shredded == 1
    await settled(app, fake_api)
    deletes = [c for c in fake_api.calls[start:] if c.method.lower() == "deletemessage"]
    assert deletes and all(c.ok for c in deletes)
    assert all(fake_api.message(psy.id, m) is None for m in relays)
    assert "отчим опять кричал" not in _texts(fake_api, psy.id)
    assert "мне плохо дома" not in _texts(fake_api, psy.id)


async def test_copies_older_than_48_hours_are_left_alone(
    app: App, fake_api: FakeBotAPI, clock: FakeClock
) -> None:
    user, psy = TgUser(9402, "Bolat"), TgUser(9492, "Psy")
    case = await _relayed_case(app, fake_api, user, psy)
    relays = await _relays(app, case)
    assert relays

    clock.advance(days=3)  # the retention worker was down: Telegram would refuse now
    start = len(fake_api.calls)
    report = await retention.run_retention(app.sessionmaker, app.rt)
    assert report.cases_shredded == 1
    await settled(app, fake_api)
    assert not [c for c in fake_api.calls[start:] if c.method.lower() == "deletemessage"]
    assert all(fake_api.message(psy.id, m) is not None for m in relays)  # what remains


async def test_forget_deletes_the_student_s_words_from_staff_chats(
    app: App, fake_api: FakeBotAPI
) -> None:
    user, psy = TgUser(9403, "Gulnara"), TgUser(9493, "Psy")
    await psychologist(app, psy)
    fake_api.text_message(user, "я боюсь идти домой")
    await settled(app, fake_api)
    case = await case_of(app, user)
    command(fake_api, psy, f"/take {case.code}")
    await settled(app, fake_api)
    fake_api.text_message(user, "он опять пьёт")
    await settled(app, fake_api)
    relays = await _relays(app, case)
    assert relays and "он опять пьёт" in _texts(fake_api, psy.id)

    fake_api.callback_query(user, "forget:yes")
    await settled(app, fake_api)
    assert all(fake_api.message(psy.id, m) is None for m in relays)
    assert "он опять пьёт" not in _texts(fake_api, psy.id)
    # The case itself lives on for the psychologist, read through the bot (audited).
    assert await stored_texts(app, case.id) == ["я боюсь идти домой", "он опять пьёт"]
