"""What the stand-in adds for `trustline demo`: Telegram's size limits on files, a chat as
its user sees it, and a change counter a page can long-poll on; and Telegram's limits on
lengths, counted as Telegram counts them (UTF-16 code units after entity parsing): text over
4096, a caption over 1024 and an empty text are refused with Telegram's own descriptions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramEntityTooLarge
from aiogram.types import BufferedInputFile, InputMediaPhoto

from fake_telegram import FakeBotAPI, TgUser
from fake_telegram.methods import DOWNLOAD_LIMIT, PHOTO_UPLOAD_LIMIT, UPLOAD_LIMIT

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


async def test_chat_messages_show_the_chat_as_its_user_sees_it(api: FakeBotAPI, bot: Bot) -> None:
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


# -- lengths, as Telegram counts them: UTF-16 code units after entity parsing --------------

EMOJI = "😢"  # outside the BMP: 2 UTF-16 code units


async def test_text_over_4096_utf16_units_is_refused(api: FakeBotAPI, bot: Bot) -> None:
    assert (await bot.send_message(USER.id, EMOJI * 2048)).text == EMOJI * 2048
    assert (await bot.send_message(USER.id, "я" * 4095 + "!")).text == "я" * 4095 + "!"
    for too_long in (EMOJI * 2049, "я" * 4095 + EMOJI, "я" * 4097):
        with pytest.raises(TelegramBadRequest, match="message is too long"):
            await bot.send_message(USER.id, too_long)
    assert [c.status for c in api.calls_of("sendMessage")] == [200, 200, 400, 400, 400]
    assert api.calls_of("sendMessage")[-1].result is None
    assert len(api.chat_messages(USER.id)) == 2  # nothing refused reached the chat


async def test_the_limit_is_measured_after_entity_parsing(api: FakeBotAPI, bot: Bot) -> None:
    # Tags are not text and an entity is one character: 4096 shown, so it is accepted...
    shown = "&amp;" * 96 + "я" * 4000
    sent = await bot.send_message(USER.id, f"<b>{shown}</b>", parse_mode="HTML")
    assert sent.text == "&" * 96 + "я" * 4000
    # ...and one more shown character is refused.
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(USER.id, f"<i>{shown}!</i>", parse_mode="HTML")


async def test_empty_or_blank_text_is_refused(api: FakeBotAPI, bot: Bot) -> None:
    for empty in ("", "   ", "\n\t\n"):
        with pytest.raises(TelegramBadRequest, match="message text is empty"):
            await bot.send_message(USER.id, empty)
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(USER.id, "<b></b>", parse_mode="HTML")
    assert api.chat_messages(USER.id) == []
    assert {c.status for c in api.calls_of("sendMessage")} == {400}


async def test_edit_message_text_has_the_same_limits(api: FakeBotAPI, bot: Bot) -> None:
    sent = await bot.send_message(USER.id, "бастапқы")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.edit_message_text(EMOJI * 2049, chat_id=USER.id, message_id=sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.edit_message_text("  ", chat_id=USER.id, message_id=sent.message_id)
    assert [m.get("text") for m in api.chat_messages(USER.id)] == ["бастапқы"]
    await bot.edit_message_text(EMOJI * 2048, chat_id=USER.id, message_id=sent.message_id)
    assert [m.get("text") for m in api.chat_messages(USER.id)] == [EMOJI * 2048]


async def test_captions_over_1024_utf16_units_are_refused(api: FakeBotAPI, bot: Bot) -> None:
    photo = BufferedInputFile(b"jpeg", filename="p.jpg")
    sent = await bot.send_photo(USER.id, photo, caption=EMOJI * 512)
    assert sent.caption == EMOJI * 512
    file_id = sent.photo[-1].file_id if sent.photo else ""
    too_long = EMOJI * 512 + "."
    senders = {
        "sendPhoto": lambda: bot.send_photo(USER.id, file_id, caption=too_long),
        "sendDocument": lambda: bot.send_document(
            USER.id, BufferedInputFile(b"%PDF", filename="d.pdf"), caption=too_long
        ),
        "sendVoice": lambda: bot.send_voice(
            USER.id, BufferedInputFile(b"OggS", filename="v.ogg"), caption=too_long
        ),
        "sendVideo": lambda: bot.send_video(
            USER.id, BufferedInputFile(b"mp4", filename="v.mp4"), caption="я" * 1025
        ),
        "copyMessage": lambda: bot.copy_message(
            USER.id, USER.id, sent.message_id, caption=too_long
        ),
        "editMessageCaption": lambda: bot.edit_message_caption(
            chat_id=USER.id, message_id=sent.message_id, caption=too_long
        ),
    }
    for method, call in senders.items():
        with pytest.raises(TelegramBadRequest, match="message caption is too long"):
            await call()
        assert api.calls_of(method)[-1].status == 400, method
    assert len(api.chat_messages(USER.id)) == 1
    assert api.chat_messages(USER.id)[0]["caption"] == EMOJI * 512
    # At the limit, each is accepted.
    copied = await bot.copy_message(USER.id, USER.id, sent.message_id, caption="я" * 1024)
    assert api.message(USER.id, copied.message_id)["caption"] == "я" * 1024  # type: ignore[index]
    document = await bot.send_document(
        USER.id, BufferedInputFile(b"%PDF", filename="d.pdf"), caption="я" * 1023 + "!"
    )
    assert document.caption == "я" * 1023 + "!"


async def test_an_album_caption_over_1024_is_refused(api: FakeBotAPI, bot: Bot) -> None:
    media = [
        InputMediaPhoto(media=BufferedInputFile(b"a", filename="a.jpg"), caption=EMOJI * 513),
        InputMediaPhoto(media=BufferedInputFile(b"b", filename="b.jpg")),
    ]
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_media_group(USER.id, media)
    assert api.chat_messages(USER.id) == []
