"""The app's core, assembled once from Settings: the database, the keys and the
translations, without Telegram. Every CLI command that does not speak to Telegram opens
only this (and so never imports aiogram, issue 16); the bot (bot/app.py, create_app) is a
Core plus the Telegram side, built by the same create_core."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import DEFAULT_DATABASE_URL, Settings
from bot.db.migrate import upgrade_async
from bot.db.session import make_engine, make_sessionmaker
from bot.i18n import Catalogues, Translator, load_catalogues
from bot.services.runtime import Runtime, utc_now
from bot.services.security import audit, keys
from bot.services.security.vault import Vault


@dataclass
class Core:
    """What every command needs that does not speak to Telegram: settings, the database,
    the keys (the vault follows a master key rotated by another process) and the
    translations (the catalogues the bot's aiogram I18n shares). The bot's App is a Core
    plus the Telegram side."""

    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    rt: Runtime
    catalogues: Catalogues

    async def close(self) -> None:
        await self.engine.dispose()


async def create_core(
    settings: Settings,
    *,
    clock: Any = utc_now,
    migrate: bool | None = None,
    bot_username: str | None = None,
) -> Core:
    """Migrate (by default only the embedded SQLite default), open the database, load the
    master keyring and the pseudonym keys (made on the first start), build the runtime.

    `bot_username`: the @name links open, else TRUSTLINE_BOT_USERNAME; with neither it is
    left empty (never a made-up name, which would be someone else's bot): a command that
    makes links asks Telegram first (bot.cli.common.bot_username), the bot asks getMe."""
    keyring = keys.load_master_keyring(settings)
    if migrate is None:
        migrate = settings.database_url == DEFAULT_DATABASE_URL
    if migrate:
        await upgrade_async(settings.database_url)
    engine = make_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        pool_timeout=settings.db_pool_timeout_seconds,
    )
    await audit.bind_keys(engine, settings)  # rows chained with a key kept outside the db
    sessionmaker = make_sessionmaker(engine)
    try:
        async with sessionmaker() as session, session.begin():
            pseudonyms = await keys.load_pseudonym_keys(session, keyring)
        periods = keys.load_period_keys(settings)  # made once the database answered
    except BaseException:
        await engine.dispose()  # no connection attempt may outlive a failed start
        await _sqlite_threads_done()
        raise
    catalogues = load_catalogues()
    rt = Runtime(
        vault=Vault(
            keyring,
            pseudonyms,
            periods=periods,
            reload=keys.keyring_reloader(settings, keyring),
        ),
        tr=Translator(catalogues),
        settings=settings,
        bot_username=(bot_username or settings.bot_username or "").lstrip("@"),
        clock=clock,
    )
    return Core(settings, engine, sessionmaker, rt, catalogues)


@contextlib.asynccontextmanager
async def opened_core(
    settings: Settings,
    *,
    clock: Any = utc_now,
    migrate: bool | None = None,
    bot_username: str | None = None,
) -> AsyncIterator[Core]:
    """create_core for the length of a block, closed after it."""
    core = await create_core(settings, clock=clock, migrate=migrate, bot_username=bot_username)
    try:
        yield core
    finally:
        await core.close()


async def _sqlite_threads_done(limit: float = 1.0) -> None:
    """aiosqlite reports the shutdown of a connection that failed to open back to this
    loop from its thread; give it that moment before the loop closes on the error."""
    for _ in range(int(limit / 0.02)):
        if not any("_connection_worker_thread" in t.name for t in threading.enumerate()):
            return
        await asyncio.sleep(0.02)
