"""Two senders, each with its own engine and Bot session, share one outbox: every row goes
out exactly once, each chat's rows in order, and both do part of the work."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from bot.app import App
from bot.config import Settings
from bot.db.models import Case
from bot.db.session import is_sqlite, make_engine, make_sessionmaker
from bot.delivery import outbox
from bot.delivery.sender import OutboxSender
from fake_telegram import FakeBotAPI, TgUser
from tests.conftest import TEST_TOKEN
from tests.faults.support import case_of, eventually, settled, unsent_rows

CHATS = 30
PER_CHAT = 10


class CountingSender(OutboxSender):
    """An OutboxSender that counts what it sent itself."""

    sent_here = 0

    async def _call(self, row: Any, request: Any, method: str) -> Any:
        outcome = await super()._call(row, request, method)
        if outcome.status == "sent":
            self.sent_here += 1
        return outcome


async def test_two_senders_on_one_database_never_send_a_row_twice(
    app: App, fake_api: FakeBotAPI, settings: Settings
):
    users = [TgUser(4100 + i, f"U{i}", language_code="ru") for i in range(CHATS)]
    for user in users:
        fake_api.text_message(user, "привет")
    await settled(app, fake_api, timeout=60)
    app.sender.stop()  # the app's own sender steps aside: the two below share the work
    await asyncio.sleep(0.1)
    case_ids = [(await case_of(app, user)).id for user in users]
    async with app.sessionmaker() as session, session.begin():
        now = app.rt.now()
        for i, (user, case_id) in enumerate(zip(users, case_ids, strict=True)):
            case = await session.get(Case, case_id)
            assert case is not None
            for n in range(PER_CHAT):
                outbox.enqueue(
                    session,
                    app.rt.vault,
                    case,
                    "sendMessage",
                    {"text": f"{user.first_name}/{n:02d}"},
                    now=now + timedelta(microseconds=i * PER_CHAT + n),
                )
    start = len(fake_api.calls)

    senders: list[CountingSender] = []
    engines = []
    for _ in range(2):
        engine = make_engine(settings.database_url)
        engines.append(engine)
        bot = Bot(
            TEST_TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(fake_api.base_url))
        )
        sender = CountingSender(
            bot,
            make_sessionmaker(engine),
            app.rt,
            is_postgres=not is_sqlite(settings.database_url),
        )
        sender.limiter.per_chat = 50.0  # Telegram's pace is tested elsewhere
        sender.max_active_chats = 4  # so that neither can take every chat at once
        senders.append(sender)
    running = [asyncio.create_task(s.run()) for s in senders]
    try:
        await eventually(lambda: _none_left(app), timeout=120, what="the outbox drained")
    finally:
        for sender in senders:
            sender.stop()
        await asyncio.gather(*running, return_exceptions=True)
        for sender, engine in zip(senders, engines, strict=True):
            await sender.bot.session.close()
            await engine.dispose()

    sent = [c for c in fake_api.calls[start:] if c.ok and c.is_send]
    assert len(sent) == CHATS * PER_CHAT
    assert max(Counter(c.text for c in sent).values()) == 1  # nothing twice
    for user in users:
        in_chat = [c.text for c in sent if c.chat_id == user.id]
        assert in_chat == [f"{user.first_name}/{n:02d}" for n in range(PER_CHAT)]
    assert all(s.sent_here > 0 for s in senders), [s.sent_here for s in senders]
    assert sum(s.sent_here for s in senders) == CHATS * PER_CHAT


async def _none_left(app: App) -> bool:
    return await unsent_rows(app) == 0
