"""Webhook mode: Telegram's secret token is checked, 200 only after commit (or after an
update that fails every time was set aside), 500 when the update could neither be handled
nor set aside (Telegram then delivers it again), and a repeat is harmless."""

from __future__ import annotations

import asyncio
import copy
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from bot import app as app_module
from bot.app import App, create_app
from bot.cli.run import serve
from bot.config import Settings
from bot.db.models import CaseMessage, DeadLetter, ProcessedUpdate
from bot.services import deadletters
from bot.services.casework import cases
from bot.webhook import webhook_app
from fake_telegram import FakeBotAPI, TgUser
from tests.conftest import FakeClock
from tests.faults.support import case_of, eventually, stored_texts, unsent_rows

SECRET = "s3cret-token_for-tests-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def hooked(settings: Settings, clock: FakeClock) -> AsyncIterator[tuple[App, str]]:
    """The app behind its webhook endpoint (no polling), with the outbox sender running."""
    app = await create_app(settings, clock=clock, migrate=False)
    await app.start_background()
    runner = web.AppRunner(webhook_app(app, path="/hook", secret=SECRET))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield app, f"http://127.0.0.1:{port}/hook"
    finally:
        await runner.cleanup()
        await app.close()


def student_update(api: FakeBotAPI, user: TgUser, text: str) -> dict[str, Any]:
    """An update as Telegram would post it (built by the fake, taken off its queue)."""
    update = api.text_message(user, text)
    api._updates.clear()  # this test posts it itself
    return copy.deepcopy(update)


async def messages(app: App) -> int:
    async with app.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(CaseMessage)) or 0)


async def test_without_the_secret_token_nothing_gets_in(
    hooked: tuple[App, str], fake_api: FakeBotAPI
):
    app, url = hooked
    update = student_update(fake_api, TgUser(7001, "Aibek", language_code="ru"), "подделка")
    assert await fake_api.deliver_webhook(url, update) == 401
    assert await fake_api.deliver_webhook(url, update, secret_token="wrong") == 401
    assert await messages(app) == 0


async def test_200_comes_after_the_commit_and_a_repeat_changes_nothing(
    hooked: tuple[App, str], fake_api: FakeBotAPI
):
    app, url = hooked
    user = TgUser(7002, "Baktygul", language_code="ru")
    update = student_update(fake_api, user, "меня травят")
    assert await fake_api.deliver_webhook(url, update, secret_token=SECRET) == 200
    assert await messages(app) == 1  # committed before the 200
    assert await fake_api.deliver_webhook(url, copy.deepcopy(update), secret_token=SECRET) == 200
    await fake_api.wait_for(lambda c: c.chat_id == user.id and c.is_send)
    await eventually(lambda: _drained(app), what="outbox drained")
    case = await case_of(app, user)
    assert await stored_texts(app, case.id) == ["меня травят"]
    assert len(fake_api.calls_to(user.id)) == 1


async def _drained(app: App) -> bool:
    return await unsent_rows(app) == 0


async def test_a_passing_failure_is_tried_again_within_the_request(
    hooked: tuple[App, str], fake_api: FakeBotAPI, monkeypatch: pytest.MonkeyPatch
):
    app, url = hooked
    real = cases.submit_student_message
    down = {"left": 1}

    async def database_away(*args: Any, **kwargs: Any) -> Any:
        if down["left"]:
            down["left"] -= 1
            raise OperationalError("INSERT", {}, ConnectionRefusedError("restarting"))
        return await real(*args, **kwargs)

    monkeypatch.setattr(cases, "submit_student_message", database_away)
    user = TgUser(7003, "Cholpon", language_code="ru")
    update = student_update(fake_api, user, "ответьте пожалуйста")
    assert await fake_api.deliver_webhook(url, update, secret_token=SECRET) == 200
    assert down["left"] == 0  # it did fail once
    case = await case_of(app, user)
    assert await stored_texts(app, case.id) == ["ответьте пожалуйста"]
    async with app.sessionmaker() as session:
        assert (await session.scalars(select(DeadLetter))).all() == []


async def test_with_the_database_away_it_answers_500_and_telegram_delivers_again(
    hooked: tuple[App, str], fake_api: FakeBotAPI, monkeypatch: pytest.MonkeyPatch
):
    """Neither handled nor set aside (the dead letter cannot be written either): the
    update is not confirmed, and Telegram's next delivery is handled."""
    app, url = hooked
    monkeypatch.setattr(app_module, "RETRY_CAP_SECONDS", 0.05)
    real_submit, real_record = cases.submit_student_message, deadletters.record
    down = {"on": True}

    def away(real: Any) -> Any:
        async def call(*args: Any, **kwargs: Any) -> Any:
            if down["on"]:
                raise OperationalError("INSERT", {}, ConnectionRefusedError("restarting"))
            return await real(*args, **kwargs)

        return call

    monkeypatch.setattr(cases, "submit_student_message", away(real_submit))
    monkeypatch.setattr(deadletters, "record", away(real_record))
    user = TgUser(7005, "Aidana", language_code="ru")
    update = student_update(fake_api, user, "вы здесь?")
    assert await fake_api.deliver_webhook(url, update, secret_token=SECRET) == 500
    assert await messages(app) == 0
    async with app.sessionmaker() as session:  # the update id rolled back with the rest
        assert await session.get(ProcessedUpdate, update["update_id"]) is None
        assert (await session.scalars(select(DeadLetter))).all() == []
    down["on"] = False
    assert await fake_api.deliver_webhook(url, copy.deepcopy(update), secret_token=SECRET) == 200
    case = await case_of(app, user)
    assert await stored_texts(app, case.id) == ["вы здесь?"]


async def test_an_update_that_fails_every_time_is_set_aside_and_answered_200(
    hooked: tuple[App, str], fake_api: FakeBotAPI, monkeypatch: pytest.MonkeyPatch
):
    """Telegram would deliver a failing update again and again; after MAX_ATTEMPTS tries
    within the request it is a dead letter, confirmed with 200, and the next one goes on."""
    app, url = hooked
    monkeypatch.setattr(app_module, "RETRY_CAP_SECONDS", 0.05)
    real = cases.submit_student_message
    poisoned = TgUser(7006, "Poison", language_code="ru")

    async def broken_for_one_chat(
        session: Any, rt: Any, student: Any, chat_id: int, content: Any
    ) -> Any:
        if chat_id == poisoned.id:
            raise RuntimeError("a bug")
        return await real(session, rt, student, chat_id, content)

    monkeypatch.setattr(cases, "submit_student_message", broken_for_one_chat)
    poison = student_update(fake_api, poisoned, "это не пройдёт")
    assert await fake_api.deliver_webhook(url, poison, secret_token=SECRET) == 200
    async with app.sessionmaker() as session:
        letter = (await session.scalars(select(DeadLetter))).one()
    assert (letter.update_id, letter.error, letter.attempts) == (
        poison["update_id"],
        "RuntimeError",
        app_module.MAX_ATTEMPTS,
    )
    other = TgUser(7007, "Other", language_code="ru")
    assert (
        await fake_api.deliver_webhook(
            url, student_update(fake_api, other, "а это да"), secret_token=SECRET
        )
        == 200
    )
    assert await stored_texts(app, (await case_of(app, other)).id) == ["а это да"]


async def test_updates_that_cannot_be_handled_do_not_block_the_line(
    hooked: tuple[App, str], fake_api: FakeBotAPI, recwarn: pytest.WarningsRecorder
):
    app, url = hooked
    user = TgUser(7004, "Dilnaz", language_code="ru")
    unknown = {"update_id": 990001, "business_story": {"id": 1, "from": user.as_user()}}
    assert await fake_api.deliver_webhook(url, unknown, secret_token=SECRET) == 200
    broken = {"update_id": 990002, "message": {"message_id": "not a number"}}
    assert await fake_api.deliver_webhook(url, broken, secret_token=SECRET) == 200
    assert not recwarn.list  # aiogram's warning would have printed the whole update
    async with app.sessionmaker() as session:
        assert await session.get(ProcessedUpdate, 990001) is not None
    update = student_update(fake_api, user, "а это дойдёт")
    assert await fake_api.deliver_webhook(url, update, secret_token=SECRET) == 200
    assert await messages(app) == 1


@pytest.mark.parametrize("configured", [False, True], ids=["random-secret", "set-secret"])
async def test_trustline_run_webhook_end_to_end(
    settings: Settings, fake_api: FakeBotAPI, configured: bool
):
    """`trustline run --webhook URL`: tells Telegram the URL and a secret, then handles what
    Telegram posts there."""
    if configured:
        settings = settings.model_copy(update={"webhook_secret": SecretStr(SECRET)})
    port = free_port()
    url = f"http://127.0.0.1:{port}/tg/hook"
    running = asyncio.create_task(serve(settings, webhook=url, port=port))
    try:

        async def webhook_set() -> bool:
            assert not running.done(), running.exception()
            return fake_api.webhook is not None

        await eventually(webhook_set, timeout=20, what="setWebhook")
        assert fake_api.webhook is not None and fake_api.webhook["url"] == url
        secret = fake_api.webhook["secret_token"]
        assert secret and len(secret) >= 32 if not configured else secret == SECRET
        user = TgUser(7005, "Erkin", language_code="ru")
        fake_api.text_message(user, "через вебхук")
        await fake_api.wait_for(lambda c: c.chat_id == user.id and c.is_send, timeout=15)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
