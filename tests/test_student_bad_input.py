"""Bad input from students: answered sensibly or ignored, never a crash, and the next
message is still handled."""

from __future__ import annotations

import os
import random
import string

from sqlalchemy import func, select

from bot.app import App
from bot.db.models import CaseMessage
from fake_telegram import FakeBotAPI, TgUser
from tests.test_student_flow import send_command


async def _next_message_still_works(api: FakeBotAPI, user: TgUser) -> None:
    start = len(api.calls)
    api.text_message(user, "мне плохо, поговорите со мной")
    await api.wait_for(
        lambda c: c.chat_id == user.id and c.method == "sendMessage", start=start, timeout=10
    )


async def _count_messages(app: App) -> int:
    async with app.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(CaseMessage)) or 0)


async def test_longest_message_is_stored_whole(app: App, fake_api: FakeBotAPI) -> None:
    user = TgUser(6001, "L", language_code="ru")
    fake_api.text_message(user, "я" * 4096)
    await fake_api.wait_for(lambda c: c.chat_id == user.id and c.method == "sendMessage")
    assert await _count_messages(app) == 1


async def test_photo_with_empty_caption(app: App, fake_api: FakeBotAPI) -> None:
    user = TgUser(6002, "P", language_code="kk")
    fake_api.photo_message(user, caption="")
    await fake_api.wait_for(lambda c: c.chat_id == user.id and c.method == "sendMessage")
    assert await _count_messages(app) == 1
    await _next_message_still_works(fake_api, user)


async def test_unknown_command_gets_help_not_a_case(app: App, fake_api: FakeBotAPI) -> None:
    user = TgUser(6003, "U", language_code="ky")
    send_command(fake_api, user, "/doesnotexist")
    answer = await fake_api.wait_for(lambda c: c.chat_id == user.id and c.method == "sendMessage")
    assert "/help" in (answer.text or "")
    assert await _count_messages(app) == 0
    await _next_message_still_works(fake_api, user)


async def test_junk_start_payloads(app: App, fake_api: FakeBotAPI) -> None:
    rng = random.Random(7)
    payloads = [
        "".join(rng.choice(string.ascii_letters + string.digits + "_-") for _ in range(64)),
        os.urandom(24).hex(),
        "p" + "A" * 20,
        "../../etc/passwd",
        "💊🔪",
        "x" * 500,
    ]
    for i, payload in enumerate(payloads):
        user = TgUser(6100 + i, "J", language_code="ru")
        start = len(fake_api.calls)
        send_command(fake_api, user, "/start", payload)
        # The greeting still arrives (with its 111), after a kind note on the bad link.
        await fake_api.wait_for_send(user.id, "111", start=start, timeout=10)
        await _next_message_still_works(fake_api, user)


async def test_forged_callback_data(app: App, fake_api: FakeBotAPI) -> None:
    user = TgUser(6200, "F", language_code="ru")
    for data in (
        "lang:xx",
        "region:abc",
        "region:999999",
        "district:-1",
        "forget:maybe",
        "take:ZZZZZZZZ",
        "\x00\x01",
        "a" * 64,
    ):
        start = len(fake_api.calls)
        fake_api.callback_query(user, data)
        await fake_api.wait_for(lambda c: c.method == "answerCallbackQuery", start=start)
    await _next_message_still_works(fake_api, user)
    assert await _count_messages(app) == 1


async def test_edited_message_is_explained(app: App, fake_api: FakeBotAPI) -> None:
    user = TgUser(6300, "E", language_code="ru")
    fake_api.edited_message(user, "исправил")
    await fake_api.wait_for(lambda c: c.chat_id == user.id and c.method == "sendMessage")
    assert await _count_messages(app) == 0
    await _next_message_still_works(fake_api, user)


async def test_group_messages_are_ignored(app: App, fake_api: FakeBotAPI) -> None:
    user = TgUser(6400, "G", language_code="ru")
    fake_api.group_message(user, "всем привет, меня бьют")
    await _next_message_still_works(fake_api, user)
    group_sends = [
        c for c in fake_api.calls if c.is_send and isinstance(c.chat_id, int) and c.chat_id < 0
    ]
    assert group_sends == []
    assert await _count_messages(app) == 1
