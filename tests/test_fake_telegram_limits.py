"""What the stand-in adds for `trustline demo`: Telegram's size limits on files, a chat as
its user sees it, and a change counter a page can long-poll on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramEntityTooLarge
from aiogram.types import BufferedInputFile

from bot.fake_telegram import FakeBotAPI, TgUser
from bot.fake_telegram.methods import DOWNLOAD_LIMIT, PHOTO_UPLOAD_LIMIT, UPLOAD_LIMIT

TOKEN = "123456:TEST-fake-token"
USER = TgUser(4242, "Aruzhan", language_code="kk")


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as server:
        yield server


@pytest.fixture
async def bot(api: FakeBotAPI) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api.base_url))
    bot = Bot(TOKEN, session=session)
    yield bot
    await bot.session.close()


async def test_a_photo_over_10_mb_is_refused_and_one_at_the_limit_is_kept(
    api: FakeBotAPI, bot: Bot
) -> None:
    too_big = BufferedInputFile(b"\xff" * (PHOTO_UPLOAD_LIMIT + 1), filename="big.jpg")
    with pytest.raises(TelegramBadRequest, match="PHOTO_SAVE_FILE_INVALID"):
        await bot.send_photo(USER.id, too_big)
    assert api.chat_messages(USER.id) == []
    at_limit = BufferedInputFile(b"\xff" * PHOTO_UPLOAD_LIMIT, filename="ok.jpg")
    sent = await bot.send_photo(USER.id, at_limit)
    assert sent.photo is not None
    stored = api.file(sent.photo[-1].file_id)
    assert stored is not None and len(stored.data) == PHOTO_UPLOAD_LIMIT


async def test_an_upload_over_50_mb_is_too_large(api: FakeBotAPI, bot: Bot) -> None:
    huge = BufferedInputFile(b"\0" * (UPLOAD_LIMIT + 1), filename="huge.pdf")
    with pytest.raises(TelegramEntityTooLarge):
        await bot.send_document(USER.id, huge)
    assert api.calls_of("sendDocument")[-1].status == 413


async def test_get_file_refuses_files_over_20_mb(api: FakeBotAPI, bot: Bot) -> None:
    api.add_file("big-video", b"\0" * (DOWNLOAD_LIMIT + 1), kind="video")
    api.add_file("small-photo", b"jpeg", kind="photo")
    with pytest.raises(TelegramBadRequest, match="file is too big"):
        await bot.get_file("big-video")
    assert (await bot.get_file("small-photo")).file_size == 4


async def test_chat_messages_show_the_chat_as_its_user_sees_it(
    api: FakeBotAPI, bot: Bot
) -> None:
    api.text_message(USER, "сәлем")
    first = await bot.send_message(USER.id, "one")
    second = await bot.send_message(USER.id, "two")
    await bot.edit_message_text("one, edited", chat_id=USER.id, message_id=first.message_id)
    await bot.delete_message(USER.id, second.message_id)
    shown = [(m["message_id"], m.get("text")) for m in api.chat_messages(USER.id)]
    assert shown == [(1, "сәлем"), (2, "one, edited")]
    assert api.chat_messages(999) == []


async def test_wait_for_change_wakes_on_a_call_or_an_update(api: FakeBotAPI, bot: Bot) -> None:
    start = api.version
    waiting = asyncio.create_task(api.wait_for_change(start, 5.0))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await bot.send_message(USER.id, "hello")
    after_call = await asyncio.wait_for(waiting, 1.0)
    assert after_call > start
    api.text_message(USER, "hi")
    assert await api.wait_for_change(after_call, 1.0) > after_call
    # Nothing happens: it returns the same version when its time is up.
    assert await api.wait_for_change(api.version, 0.05) == api.version
