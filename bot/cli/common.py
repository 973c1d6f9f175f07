"""Helpers shared by CLI commands: settings, a database session, and the runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import DEFAULT_DATABASE_URL, Settings
from bot.db.migrate import upgrade_async
from bot.db.session import make_engine, make_sessionmaker
from bot.i18n import Translator, make_i18n
from bot.services.runtime import Runtime
from bot.services.security import keys
from bot.services.security.vault import Vault


def load_settings() -> Settings:
    return Settings()


@asynccontextmanager
async def cli_runtime(settings: Settings) -> AsyncIterator[tuple[Runtime, AsyncSession]]:
    """A runtime and one transaction, committed when the block ends without an error."""
    if settings.database_url == DEFAULT_DATABASE_URL:
        await upgrade_async(settings.database_url)
    keyring = keys.load_master_keyring(settings)
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            pseudonyms = await keys.load_pseudonym_keys(session, keyring)
            rt = Runtime(
                vault=Vault(keyring, pseudonyms),
                tr=Translator(make_i18n()),
                settings=settings,
                bot_username=settings.bot_username or "trustline_bot",
            )
            yield rt, session
    finally:
        await engine.dispose()
