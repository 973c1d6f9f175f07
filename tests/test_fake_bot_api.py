"""The fake Bot API server, exercised through the real aiogram Bot over loopback HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import SendMessage
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
    Update,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from fake_telegram import Call, FakeBotAPI, TgUser

TOKEN = "123456:TEST-fake-token"
STUDENT = TgUser(1001, "Aigerim", username="aigerim_k", language_code="ky")
PSYCHOLOGIST = TgUser(2002, "Dana", language_code="ru")


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as server:
        yield server


def make_bot(api: FakeBotAPI) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api.base_url))
    return Bot(TOKEN, session=session)


@pytest.fixture
async def bot(api: FakeBotAPI) -> AsyncIterator[Bot]:
    bot = make_bot(api)
    yield bot
    await bot.session.close()


def keyboard(data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Press", callback_data=data)]]
    )


async def test_get_me_reports_the_configured_bot(api: FakeBotAPI, bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.username) == (123456, True, "trustline_test_bot")
    assert api.base_url == f"http://127.0.0.1:{api.port}"
    assert [call.method for call in api.calls] == ["getMe"]


async def test_send_message_echoes_a_message_aiogram_parses(api: FakeBotAPI, bot: Bot) -> None:
    first = await bot.send_message(42, "Салам", reply_markup=keyboard("lang:ky"))
    second = await bot.send_message(42, "<b>Бир</b> &amp; эки", parse_mode="HTML")
    other_chat = await bot.send_message(43, "123")

    assert (first.message_id, second.message_id, other_chat.message_id) == (1, 2, 1)
    assert first.chat.id == 42 and first.from_user is not None and first.from_user.is_bot
    assert first.text == "Салам"
    assert first.reply_markup is not None
    assert first.reply_markup.inline_keyboard[0][0].callback_data == "lang:ky"
    assert second.text == "Бир & эки"  # Telegram echoes the text without markup
    call = api.calls_to(42, "sendMessage")[0]
    assert call.params["chat_id"] == 42
    assert call.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "lang:ky"
    assert api.calls_to(43)[0].params["text"] == "123"  # text stays a string
    assert api.sent_texts(42) == ["Салам", "Бир & эки"]
    assert api.delivered[42] == 2 and api.delivered[43] == 1


async def test_telegram_checks_on_text_and_buttons(api: FakeBotAPI, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(42, "я" * 4097)
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(42, "x", reply_markup=keyboard("d" * 65))
    sent = await bot.send_message(42, "я" * 4096)
    assert sent.text is not None and len(sent.text) == 4096
    assert api.sent_texts(42) == ["я" * 4096]


async def test_copy_message_and_reply_to_the_copy(api: FakeBotAPI, bot: Bot) -> None:
    update = api.text_message(STUDENT, "Мени класста уруп жатышат")
    student_message_id = update["message"]["message_id"]

    copied = await bot.copy_message(PSYCHOLOGIST.id, STUDENT.id, student_message_id)

    assert api.sent_texts(PSYCHOLOGIST.id) == ["Мени класста уруп жатышат"]
    copy = api.message(PSYCHOLOGIST.id, copied.message_id)
    assert copy is not None and copy["from"]["is_bot"] is True

    reply = Update.model_validate(api.reply_to(PSYCHOLOGIST, copied.message_id, "Мен угам"))
    assert reply.message is not None and reply.message.reply_to_message is not None
    assert reply.message.reply_to_message.message_id == copied.message_id
    assert reply.message.reply_to_message.text == "Мени класста уруп жатышат"
    assert reply.message.reply_to_message.from_user is not None
    assert reply.message.reply_to_message.from_user.is_bot

    with pytest.raises(TelegramBadRequest, match="message to copy not found"):
        await bot.copy_message(PSYCHOLOGIST.id, STUDENT.id, 999)


async def test_bot_reply_quotes_the_original(api: FakeBotAPI, bot: Bot) -> None:
    update = api.text_message(STUDENT, "жардам керек")
    original_id = update["message"]["message_id"]
    answer = await bot.send_message(
        STUDENT.id, "Биз бул жердебиз", reply_parameters=ReplyParameters(message_id=original_id)
    )
    assert answer.reply_to_message is not None
    assert answer.reply_to_message.text == "жардам керек"
    assert answer.message_id == original_id + 1  # one id sequence per chat, both directions


async def test_send_document_upload_arrives_and_downloads(api: FakeBotAPI, bot: Bot) -> None:
    data = bytes(range(256)) * 40
    message = await bot.send_document(
        77, BufferedInputFile(data, filename="report.csv"), caption="Отчёт"
    )

    call = api.calls_to(77, "sendDocument")[0]
    assert call.params["document"] == {"filename": "report.csv", "size": len(data), "data": data}
    assert call.params["caption"] == "Отчёт"
    assert message.document is not None and message.document.file_name == "report.csv"
    assert message.document.file_size == len(data)
    downloaded = await bot.download(message.document.file_id)
    assert downloaded is not None and downloaded.read() == data


@pytest.mark.parametrize(
    ("method", "field"),
    [
        ("send_photo", "photo"),
        ("send_voice", "voice"),
        ("send_video", "video"),
        ("send_sticker", "sticker"),
        ("send_audio", "audio"),
        ("send_animation", "animation"),
        ("send_video_note", "video_note"),
    ],
)
async def test_every_media_send_echoes_its_media(
    api: FakeBotAPI, bot: Bot, method: str, field: str
) -> None:
    upload = BufferedInputFile(b"media-bytes", filename=f"{field}.bin")
    message: Message = await getattr(bot, method)(5, upload)
    media = getattr(message, field)
    assert media is not None
    file_id = media[-1].file_id if isinstance(media, list) else media.file_id
    assert api.calls_to(5)[0].params[field]["data"] == b"media-bytes"

    again: Message = await getattr(bot, method)(6, file_id)  # resend by file_id
    media_again = getattr(again, field)
    resent_id = media_again[-1].file_id if isinstance(media_again, list) else media_again.file_id
    assert resent_id == file_id
    assert api.calls_to(6)[0].params[field] == file_id


async def test_student_photo_can_be_downloaded(api: FakeBotAPI, bot: Bot) -> None:
    update = Update.model_validate(api.photo_message(STUDENT, caption="плакат", data=b"PNG..."))
    assert update.message is not None and update.message.photo is not None
    downloaded = await bot.download(update.message.photo[-1].file_id)
    assert downloaded is not None and downloaded.read() == b"PNG..."
    api.add_file("known-id", b"registered", file_name="a.txt")
    file = await bot.get_file("known-id")
    assert file.file_path is not None and file.file_path.endswith(".txt")
    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("unknown-id")


async def test_get_updates_returns_pushed_updates(api: FakeBotAPI, bot: Bot) -> None:
    api.start(STUDENT, "kg-bishkek-12-5A")
    api.text_message(STUDENT, "салам")
    api.photo_message(STUDENT)
    api.voice_message(STUDENT)
    api.callback_query(STUDENT, "lang:kk")
    api.edited_message(STUDENT, "салам!")
    api.group_message(STUDENT, "hi all")

    updates = await bot.get_updates(timeout=0)

    assert [u.update_id for u in updates] == [1, 2, 3, 4, 5, 6, 7]
    start = updates[0].message
    assert start is not None and start.text == "/start kg-bishkek-12-5A"
    assert start.entities is not None and start.entities[0].type == "bot_command"
    assert start.from_user is not None and start.from_user.language_code == "ky"
    assert start.chat.type == "private" and start.chat.id == STUDENT.id
    assert updates[2].message is not None and updates[2].message.photo
    assert updates[3].message is not None and updates[3].message.voice
    callback = updates[4].callback_query
    assert callback is not None and callback.data == "lang:kk" and callback.message is not None
    edited = updates[5].edited_message
    assert edited is not None and edited.text == "салам!" and edited.message_id == 2
    assert updates[6].message is not None and updates[6].message.chat.type == "supergroup"

    assert len(await bot.get_updates(timeout=0)) == 7  # not confirmed yet: delivered again
    assert await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0) == []
    assert api.pending_updates == 0


async def test_get_updates_honours_limit_and_offset(api: FakeBotAPI, bot: Bot) -> None:
    for n in range(5):
        api.text_message(STUDENT, f"m{n}")
    first = await bot.get_updates(limit=2, timeout=0)
    assert [u.update_id for u in first] == [1, 2]
    rest = await bot.get_updates(offset=3, timeout=0)
    assert [u.update_id for u in rest] == [3, 4, 5]
    resent = api.push_update(api.text_message(STUDENT, "again") | {"update_id": 4})
    assert resent["update_id"] == 4
    again = await bot.get_updates(offset=6, timeout=0)  # a redelivered old id still arrives
    assert [u.update_id for u in again] == [6, 4]


async def test_long_poll_returns_as_soon_as_an_update_arrives(api: FakeBotAPI, bot: Bot) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await asyncio.sleep(0.05)
    api.text_message(STUDENT, "are you there?")
    updates = await poll
    assert loop.time() - started < 2
    assert updates[0].message is not None and updates[0].message.text == "are you there?"
    assert api.handed_out_at[updates[0].update_id] > 0

    started = loop.time()
    assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=1) == []
    assert loop.time() - started >= 0.9


async def test_dispatcher_polls_and_answers(api: FakeBotAPI, bot: Bot) -> None:
    dispatcher = Dispatcher()

    @dispatcher.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(f"got: {message.text}")

    polling = asyncio.create_task(
        dispatcher.start_polling(bot, handle_signals=False, close_bot_session=False)
    )
    try:
        api.text_message(STUDENT, "hello")
        call = await api.wait_for_send(STUDENT.id, "got: hello")
        assert call.message is not None and call.message["chat"]["id"] == STUDENT.id
    finally:
        await dispatcher.stop_polling()
        await polling


async def test_injected_429_raises_retry_after(api: FakeBotAPI, bot: Bot) -> None:
    api.fail_next(1, status=429, retry_after=3)
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(42, "first try")
    assert caught.value.retry_after == 3
    await bot.send_message(42, "second try")
    assert api.too_many_requests == 1
    assert [call.status for call in api.calls_of("sendMessage")] == [429, 200]
    assert api.sent_texts(42) == ["second try"]  # failed sends are not deliveries
    assert api.delivered[42] == 1


async def test_injected_500_raises_server_error(api: FakeBotAPI, bot: Bot) -> None:
    api.fail_next(2, status=500, methods=["sendMessage"])
    await bot.send_chat_action(42, "typing")  # other methods are spared
    for _ in range(2):
        with pytest.raises(TelegramServerError):
            await bot.send_message(42, "x")
    assert (await bot.send_message(42, "x")).text == "x"


async def test_blocked_chat_raises_forbidden_until_unblocked(api: FakeBotAPI, bot: Bot) -> None:
    api.block(STUDENT.id)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(STUDENT.id, "are you ok?")
    await bot.send_message(PSYCHOLOGIST.id, "others still get messages")
    api.unblock(STUDENT.id)
    await bot.send_message(STUDENT.id, "are you ok?")
    assert api.sent_texts(STUDENT.id) == ["are you ok?"]


async def test_rate_limits_trigger_at_31_messages_per_second() -> None:
    clock = ManualClock()
    async with FakeBotAPI(clock=clock) as api:
        limited = make_bot(api)
        try:
            api.rate_limits(global_per_s=30, per_chat_per_s=1)
            for chat_id in range(1, 31):
                await limited.send_message(chat_id, "ok")
                clock.now += 0.01
            with pytest.raises(TelegramRetryAfter) as caught:
                await limited.send_message(31, "one too many")
            assert caught.value.retry_after == 1
            assert api.too_many_requests == 1

            clock.now += 0.8  # the first sends leave the 1-second window
            await limited.send_message(31, "fits now")
            with pytest.raises(TelegramRetryAfter):
                await limited.send_message(31, "same chat within a second")
            clock.now += 1.0
            await limited.send_message(31, "a second later")
            assert api.too_many_requests == 2
            assert api.sent_texts(31) == ["fits now", "a second later"]
            response = next(call for call in api.calls if call.status == 429)
            assert response.params["text"] == "one too many"
        finally:
            await limited.session.close()


async def test_delay_makes_the_client_time_out_and_loses_the_request(
    api: FakeBotAPI, bot: Bot
) -> None:
    api.delay(3, n=1)
    with pytest.raises(TelegramNetworkError):
        await bot.send_message(42, "slow", request_timeout=1)
    for _ in range(50):
        if api.dropped_requests:
            break
        await asyncio.sleep(0.02)
    assert api.dropped_requests == 1
    assert api.calls_of("sendMessage") == []
    assert (await bot.send_message(42, "fast")).text == "fast"  # the delay was for one request


async def test_edits_follow_telegram_rules(api: FakeBotAPI, bot: Bot) -> None:
    sent = await bot.send_message(42, "Тилди тандаңыз", reply_markup=keyboard("lang"))
    edited = await bot.edit_message_text("Кыргызча", chat_id=42, message_id=sent.message_id)
    assert isinstance(edited, Message) and edited.text == "Кыргызча"
    assert edited.reply_markup is None and edited.edit_date is not None
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("Кыргызча", chat_id=42, message_id=sent.message_id)
    await bot.edit_message_reply_markup(
        chat_id=42, message_id=sent.message_id, reply_markup=keyboard("x")
    )
    assert await bot.delete_message(42, sent.message_id) is True
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("late", chat_id=42, message_id=sent.message_id)


async def test_forward_works_and_is_recorded(api: FakeBotAPI, bot: Bot) -> None:
    update = api.text_message(STUDENT, "private words")
    forwarded = await bot.forward_message(
        PSYCHOLOGIST.id, STUDENT.id, update["message"]["message_id"]
    )
    assert forwarded.forward_origin is not None
    assert [call.method for call in api.calls_of("forwardMessage")] == ["forwardMessage"]


async def test_unknown_methods_are_recorded_and_succeed(api: FakeBotAPI, bot: Bot) -> None:
    assert await bot.set_chat_title(-100123, "Psychologists") is True
    assert await bot.set_my_commands([]) is True
    assert [call.method for call in api.unknown_calls] == ["setChatTitle"]
    assert api.calls_of("setChatTitle")[0].params == {"chat_id": -100123, "title": "Psychologists"}


async def test_wait_for_waits_and_reports_recent_calls_on_timeout(
    api: FakeBotAPI, bot: Bot
) -> None:
    mark = len(api.calls)
    waiting = asyncio.create_task(api.wait_for(lambda c: c.text == "later", start=mark))
    await bot.send_message(42, "sooner")
    await bot.send_message(42, "later")
    found: Call = await waiting
    assert found.params["chat_id"] == 42 and found.method == "sendMessage"

    with pytest.raises(AssertionError, match=r"(?s)within 0.05 s.*sendMessage \[200\]"):
        await api.wait_for(lambda c: c.text == "never", timeout=0.05)
    five = await api.wait_for_count(lambda c: c.is_send, 2, timeout=0.1)
    assert [c.text for c in five] == ["sooner", "later"]
    api.clear()
    assert api.calls == [] and api.delivered == {}


def test_builders_produce_updates_aiogram_accepts() -> None:
    api = FakeBotAPI()
    builders = [
        api.start(STUDENT),
        api.text_message(STUDENT, "hi", entities=[{"type": "bold", "offset": 0, "length": 2}]),
        api.photo_message(STUDENT, caption="c"),
        api.voice_message(STUDENT),
        api.document_message(STUDENT, b"%PDF", caption="doc"),
        api.sticker_message(STUDENT),
        api.video_message(STUDENT),
        api.edited_message(STUDENT, "edited"),
        api.callback_query(STUDENT, "forged:data"),
        api.group_message(STUDENT, "in a group"),
        api.reply_to(STUDENT, 1, "replying"),
    ]
    parsed = [Update.model_validate(update) for update in builders]
    assert [u.update_id for u in parsed] == list(range(1, 12))
    assert parsed[0].message is not None and parsed[0].message.text == "/start"
    assert parsed[4].message is not None and parsed[4].message.document is not None
    callback = parsed[8].callback_query
    assert callback is not None and isinstance(callback.message, Message)
    assert callback.message.from_user is not None and callback.message.from_user.is_bot
    assert parsed[10].message is not None and parsed[10].message.reply_to_message is not None


async def test_raw_form_json_and_multipart_requests_are_decoded(api: FakeBotAPI) -> None:
    url = f"{api.base_url}/bot{TOKEN}/sendMessage"
    markup = {"inline_keyboard": [[{"text": "a", "callback_data": "b"}]]}
    async with aiohttp.ClientSession() as client:
        form = {"chat_id": "7", "text": "true", "reply_markup": json.dumps(markup)}
        async with client.post(url, data=form) as response:
            assert (await response.json())["result"]["text"] == "true"
        async with client.post(url, json={"chat_id": "8", "text": "json body"}) as response:
            assert response.status == 200
        multipart = aiohttp.FormData()
        multipart.add_field("chat_id", "9")
        multipart.add_field("document", b"raw", filename="raw.txt")
        async with client.post(f"{api.base_url}/bot{TOKEN}/sendDocument", data=multipart) as r:
            assert (await r.json())["result"]["document"]["file_name"] == "raw.txt"
        async with client.get(f"{api.base_url}/bot{TOKEN}/getMe") as response:
            assert (await response.json())["result"]["username"] == "trustline_test_bot"
    form_call, json_call, upload_call = api.calls[:3]
    assert form_call.params == {"chat_id": 7, "text": "true", "reply_markup": markup}
    assert json_call.params == {"chat_id": 8, "text": "json body"}
    assert upload_call.params["document"] == {"filename": "raw.txt", "size": 3, "data": b"raw"}


async def test_deliver_webhook_sends_secret_and_runs_the_answer(api: FakeBotAPI, bot: Bot) -> None:
    dispatcher = Dispatcher()

    @dispatcher.message(F.text)
    async def answer_in_response(message: Message) -> Any:
        return SendMessage(chat_id=message.chat.id, text="answered in the response")

    app = web.Application()
    SimpleRequestHandler(
        dispatcher, bot, handle_in_background=False, secret_token="s3cret"
    ).register(app, path="/hook")
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        update = {"message": api.text_message(STUDENT, "via webhook")["message"]}
        assert await api.deliver_webhook(url, update, secret_token="wrong") == 401
        assert await api.deliver_webhook(url, update, secret_token="s3cret") == 200
        assert api.sent_texts(STUDENT.id) == ["answered in the response"]

        await bot.set_webhook(url, secret_token="s3cret")  # Telegram now pushes by itself
        with pytest.raises(TelegramConflictError):
            await bot.get_updates(timeout=0)
        api.text_message(STUDENT, "queued while the webhook is set")
        await api.wait_for_count(lambda c: c.chat_id == STUDENT.id and c.is_send, 3)
        assert (await bot.get_webhook_info()).url == url
        await bot.delete_webhook(drop_pending_updates=True)
        assert await bot.get_updates(timeout=0) == []
    finally:
        await runner.cleanup()


async def test_webhook_delivery_retries_until_the_bot_confirms(api: FakeBotAPI, bot: Bot) -> None:
    received: list[tuple[int, str | None]] = []

    async def flaky_bot(request: web.Request) -> web.Response:
        update = await request.json()
        received.append(
            (update["update_id"], request.headers.get("X-Telegram-Bot-Api-Secret-Token"))
        )
        return web.Response(status=500 if len(received) == 1 else 200)  # crashes once

    app = web.Application()
    app.router.add_post("/hook", flaky_bot)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    api.webhook_retry_delay = 0.01
    try:
        await bot.set_webhook(f"http://127.0.0.1:{runner.addresses[0][1]}/hook", secret_token="k")
        update_id = api.text_message(STUDENT, "must not be lost")["update_id"]
        for _ in range(200):
            if api.pending_updates == 0:
                break
            await asyncio.sleep(0.01)
        assert received == [(update_id, "k"), (update_id, "k")]
        assert api.pending_updates == 0
    finally:
        await bot.delete_webhook()
        await runner.cleanup()
