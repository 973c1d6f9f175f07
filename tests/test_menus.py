"""Command menus: the fake refuses what Telegram refuses; students get their menu in every
private chat in each language; a member's own menu is set in their chat when they join (in
their language, through the outbox), again at start, and reset when they are switched off."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from aiogram import Bot, methods
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
)
from sqlalchemy import func, select

from bot.app import App
from bot.db.models import Member, OutboxMessage
from bot.delivery import menus
from bot.domain import Role
from fake_telegram import Call, FakeBotAPI, TgUser
from tests.queue_helpers import (
    command,
    join,
    next_to,
    seed_places,
    settings,  # noqa: F401 - faster per-chat sending
)

TOKEN = "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
STUDENT = ["start", "sos", "help", "privacy", "lang", "forget"]
PSYCHOLOGIST = [name for name, _ in menus.MEMBER_MENUS[Role.PSYCHOLOGIST]]
SUPERVISOR = [name for name, _ in menus.MEMBER_MENUS[Role.SUPERVISOR]]
STAFF = [name for name, _ in menus.MEMBER_MENUS[Role.STAFF]]


@pytest.fixture
async def bare_bot(fake_api: FakeBotAPI) -> AsyncIterator[Bot]:
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(fake_api.base_url)))
    yield bot
    await bot.session.close()


@pytest.mark.parametrize(
    ("commands", "language", "error"),
    [
        ([BotCommand(command="bad-name", description="x")], None, "BOT_COMMAND_INVALID"),
        ([BotCommand(command="a" * 33, description="x")], None, "BOT_COMMAND_INVALID"),
        ([BotCommand(command="", description="x")], None, "BOT_COMMAND_INVALID"),
        ([BotCommand(command="help", description="")], None, "DESCRIPTION_INVALID"),
        ([BotCommand(command="help", description="x" * 257)], None, "DESCRIPTION_INVALID"),
        ([BotCommand(command="Help", description="x")], None, "BOT_COMMAND_INVALID"),
        (
            [BotCommand(command=f"c{i}", description="x") for i in range(101)],
            None,
            "too many commands",
        ),
        ([BotCommand(command="help", description="x")], "rus", "language code"),
        ([BotCommand(command="help", description="x")], "RU", "language code"),
    ],
)
async def test_fake_refuses_what_telegram_refuses(
    bare_bot: Bot,
    fake_api: FakeBotAPI,
    commands: list[BotCommand],
    language: str | None,
    error: str,
) -> None:
    with pytest.raises(TelegramBadRequest, match=error):
        await bare_bot.set_my_commands(commands, language_code=language)
    assert fake_api.menu_for(1) == []


async def test_fake_refuses_an_unknown_scope(bare_bot: Bot, fake_api: FakeBotAPI) -> None:
    unknown = methods.SetMyCommands.model_construct(
        commands=[BotCommand(command="help", description="x")], scope={"type": "everyone"}
    )
    with pytest.raises(TelegramBadRequest, match="BotCommandScope type"):
        await bare_bot(unknown)
    assert [c.status for c in fake_api.calls_of("setMyCommands")] == [400]


async def test_fake_keeps_lists_by_scope_and_language(bare_bot: Bot, fake_api: FakeBotAPI) -> None:
    private = BotCommandScopeAllPrivateChats()
    one = [BotCommand(command="help", description="Help")]
    two = [
        BotCommand(command="help", description="Справка"),
        BotCommand(command="lang", description="Язык"),
    ]
    assert await bare_bot.set_my_commands(one, scope=private)
    assert await bare_bot.set_my_commands(two, scope=private, language_code="ru")
    assert await bare_bot.set_my_commands(
        [BotCommand(command="queue", description="Q")], scope=BotCommandScopeChat(chat_id=5)
    )
    got = await bare_bot.get_my_commands(scope=private, language_code="ru")
    assert [(c.command, c.description) for c in got] == [("help", "Справка"), ("lang", "Язык")]
    assert await bare_bot.get_my_commands() == []  # the default scope holds nothing
    assert fake_api.menu_for(5, "ru") == ["queue"]
    assert fake_api.menu_for(6, "ru") == ["help", "lang"]
    assert fake_api.menu_for(6, "en") == ["help"]
    assert await bare_bot.delete_my_commands(scope=BotCommandScopeChat(chat_id=5))
    assert fake_api.menu_for(5, "kk") == ["help"]


async def descriptions(bot: Bot, chat_id: int | None, language: str | None) -> dict[str, str]:
    scope = BotCommandScopeChat(chat_id=chat_id) if chat_id else BotCommandScopeAllPrivateChats()
    listed = await bot.get_my_commands(scope=scope, language_code=language)
    return {c.command: c.description for c in listed}


async def test_students_menu_in_each_language(app: App, fake_api: FakeBotAPI) -> None:
    await menus.install(app.bot, app.sessionmaker, app.rt)
    ky = await descriptions(app.bot, None, "ky")
    kk = await descriptions(app.bot, None, "kk")
    ru = await descriptions(app.bot, None, "ru")
    assert list(ky) == list(kk) == list(ru) == STUDENT
    assert (ky["sos"], kk["sos"], ru["sos"]) == (
        "Шашылыш жардам",
        "Шұғыл көмек",
        "Срочная помощь",
    )
    assert list(await descriptions(app.bot, None, None)) == STUDENT  # any other language
    assert fake_api.menu_for(4242, "en") == STUDENT


async def menu_rows(app: App) -> int | None:
    """setMyCommands rows ever queued (sent rows stay until retention)."""
    async with app.sessionmaker() as session:
        return await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.method == "setMyCommands")
        )


async def test_member_menus_on_join_at_start_and_after_switch_off(
    app: App, fake_api: FakeBotAPI
) -> None:
    places = await seed_places(app)
    await menus.install(app.bot, app.sessionmaker, app.rt)
    boss = TgUser(7401, "Boss", language_code="ru")
    psy = TgUser(7402, "Aigul", language_code="kk")
    teacher = TgUser(7403, "Teacher", language_code="ky")
    supervisor = await join(app, fake_api, boss, Role.SUPERVISOR, region=places.region)
    psychologist = await join(
        app, fake_api, psy, Role.PSYCHOLOGIST, region=places.region, district=places.lenin
    )
    await join(app, fake_api, teacher, Role.STAFF, school=places.school)

    def chat_menu(user: TgUser) -> Callable[[Call], bool]:
        return lambda c: (
            c.method == "setMyCommands" and (c.params.get("scope") or {}).get("chat_id") == user.id
        )

    for user in (boss, psy, teacher):
        await fake_api.wait_for(chat_menu(user))
    # Each member's own list, in their language, whatever language their app shows.
    assert fake_api.menu_for(boss.id, "en") == SUPERVISOR
    assert fake_api.menu_for(psy.id, "ru") == PSYCHOLOGIST
    assert fake_api.menu_for(teacher.id, "kk") == STAFF
    psy_menu = await descriptions(app.bot, psy.id, None)
    assert psy_menu["queue"] == "Кезегіңіздегі ашық өтініштер"
    assert (await descriptions(app.bot, boss.id, None))["members"] == (
        "Аккаунты в вашей зоне ответственности"
    )
    assert (await descriptions(app.bot, teacher.id, None))["posters"] == (
        "Мектептин класстары үчүн плакаттар"
    )
    # No chat id is ever in an outbox row's clear columns: the scope is made when sending.
    assert all("chat_id" not in c.params for c in fake_api.calls_of("setMyCommands"))

    # A start queues no member's menu again while it is unchanged, even with two processes
    # starting together; a menu that changed (new words, another language) is queued once.
    mark = len(fake_api.calls)
    await asyncio.gather(
        menus.install(app.bot, app.sessionmaker, app.rt),
        menus.install(app.bot, app.sessionmaker, app.rt),
    )
    assert await menu_rows(app) == 3  # the three joins' rows, nothing from the starts
    async with app.sessionmaker() as session, session.begin():
        row = await session.get(Member, psychologist.id)
        assert row is not None and row.menu_digest is not None
        row.menu_digest = "0" * 16  # as if the catalogue's words had changed
    await asyncio.gather(
        menus.install(app.bot, app.sessionmaker, app.rt),
        menus.install(app.bot, app.sessionmaker, app.rt),
    )
    app.sender.poke()
    await fake_api.wait_for(chat_menu(psy), start=mark)
    assert await menu_rows(app) == 4
    assert fake_api.menu_for(psy.id, "ru") == PSYCHOLOGIST

    # Switched off: their chat shows the student's menu again.
    start = len(fake_api.calls)
    command(fake_api, boss, f"/deactivate {psychologist.id}")
    await next_to(fake_api, boss.id, start, f"№{psychologist.id}")
    await fake_api.wait_for(lambda c: c.method == "deleteMyCommands", start=start)
    assert fake_api.menu_for(psy.id, "kk") == STUDENT
    assert fake_api.menu_for(boss.id, "ru") == SUPERVISOR
    assert supervisor.active and psychologist.active  # the rows as they were on joining
