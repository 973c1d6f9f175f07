"""Helpers shared by CLI commands: settings, and the app's Core with one transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import opened_core
from bot.config import Settings
from bot.services.runtime import Runtime


def load_settings() -> Settings:
    return Settings()


@asynccontextmanager
async def cli_runtime(settings: Settings) -> AsyncIterator[tuple[Runtime, AsyncSession]]:
    """The runtime of bot.app.create_core (the bot's own assembly, without Telegram) and
    one transaction, committed when the block ends without an error."""
    async with opened_core(settings) as core:
        async with core.sessionmaker() as session, session.begin():
            yield core.rt, session
