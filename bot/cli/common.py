"""Helpers shared by CLI commands: settings, the checks made before anything is written, the
bot's @name, and the app's Core with one transaction.

Heavy modules (SQLAlchemy, the app with aiogram) are imported inside the functions, so
that importing a command module to build the parser costs nothing (bot/cli/__init__.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from bot.services.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.config import Settings
    from bot.services.runtime import Runtime


def load_settings() -> Settings:
    from bot.config import Settings

    return Settings()


def shown_database(settings: Settings) -> str:
    """TRUSTLINE_DATABASE_URL as it may be printed: never with its password."""
    from sqlalchemy.engine import make_url

    return make_url(settings.database_url).render_as_string(hide_password=True)


def missing_sqlite_file(settings: Settings) -> str | None:
    """The SQLite file TRUSTLINE_DATABASE_URL names when it does not exist (connecting
    would create it empty), else None."""
    from sqlalchemy.engine import make_url

    from bot.db.session import is_sqlite

    if not is_sqlite(settings.database_url):
        return None
    database = make_url(settings.database_url).database
    if database in (None, "", ":memory:") or Path(database).exists():
        return None
    return database


async def check_ready(settings: Settings) -> None:
    """What every command that opens the core checks first, before anything is written: the
    master key as given (check_master_key), then the database (check_database)."""
    check_master_key(settings)
    await check_database(settings)


def check_master_key(settings: Settings) -> None:
    """The master key can be read as given (TRUSTLINE_MASTER_KEY, or a key file that exists:
    its mode and contents), with nothing written; a ConfigError in one sentence otherwise.
    A default key file that does not exist yet is made by the start, unless the database
    holds keys already (check_database)."""
    from bot.services.security import keys

    if settings.master_key is not None or settings.key_file.exists():
        keys.load_master_keyring(settings)  # reads only: the key is given
    elif settings.master_key_file is not None:
        raise ConfigError(
            f"TRUSTLINE_MASTER_KEY_FILE points to {settings.master_key_file}, which does not "
            "exist."
        )


async def check_database(settings: Settings) -> None:
    """Before a command writes anything (the key file, the audit key, key rows): the
    database answers, carries exactly this TrustLine's migrations, and, when the master key
    would be made now, holds no keys wrapped by an earlier one. Otherwise a ConfigError in
    one sentence; a database that cannot be reached raises its driver's error, which
    bot.cli.problems says in one sentence.

    The embedded default (an SQLite file in the working directory) is made and migrated by
    the start itself (bot.app.create_core): only its keys are asked about."""
    from sqlalchemy import inspect, select, text

    from bot.config import DEFAULT_DATABASE_URL
    from bot.db.migrate import migration_heads
    from bot.db.models import KeyMaterial
    from bot.db.session import make_engine

    embedded = settings.database_url == DEFAULT_DATABASE_URL
    if (missing := missing_sqlite_file(settings)) is not None:
        folder = Path(missing).parent
        if not folder.is_dir():
            raise ConfigError(
                f"cannot use the database TRUSTLINE_DATABASE_URL={shown_database(settings)}: "
                f"the file cannot be opened or created there (the folder {folder} does not "
                "exist)."
            )
        if embedded:  # the first start makes it
            return
        raise ConfigError(
            f"the database file {missing} does not exist; create it with "
            "`trustline db upgrade` (or check TRUSTLINE_DATABASE_URL)."
        )
    engine = make_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            migrated = await conn.run_sync(lambda sync: inspect(sync).has_table("alembic_version"))
            versions: frozenset[str] = frozenset()
            if migrated:
                rows = await conn.execute(text("SELECT version_num FROM alembic_version"))
                versions = frozenset(str(row[0]) for row in rows)
            has_keys = (
                bool(versions)
                and (await conn.execute(select(KeyMaterial.name).limit(1))).first() is not None
            )
    finally:
        await engine.dispose()
    shown = shown_database(settings)
    if not embedded and not versions:
        raise ConfigError(
            f"the database {shown} has no tables yet; run `trustline db upgrade` first."
        )
    heads = migration_heads()
    if not embedded and versions != heads:
        raise ConfigError(
            f"the database {shown} is at migration {', '.join(sorted(versions))}, this "
            f"TrustLine needs {', '.join(sorted(heads))}; run `trustline db upgrade` "
            "(a database migrated by a newer TrustLine needs that newer version)."
        )
    if has_keys and settings.master_key is None and not settings.key_file.exists():
        raise ConfigError(
            f"the master key file {settings.key_file} does not exist, but the database "
            f"{shown} holds keys made with a master key: restore the key file from where "
            "you keep it (or set TRUSTLINE_MASTER_KEY_FILE); a new key would open nothing."
        )


async def telegram_username(settings: Settings) -> str:
    """The bot's @name as Telegram tells it (getMe): the token works and Telegram answers.
    A ConfigError without a token; aiogram's error when Telegram refuses or cannot be
    reached (bot.cli.problems.telegram_sentence says which, in one sentence)."""
    from bot.app import make_bot

    bot = make_bot(settings)
    try:
        me = await bot.me()
    finally:
        await bot.session.close()
    if not me.username:
        raise ConfigError("Telegram did not tell the bot's @name; set TRUSTLINE_BOT_USERNAME.")
    return me.username


async def bot_username(settings: Settings) -> str:
    """The @name links must open (invites, posters): TRUSTLINE_BOT_USERNAME, else asked of
    Telegram; never a made-up default, which would be someone else's bot."""
    if settings.bot_username:
        return settings.bot_username.lstrip("@")
    if settings.bot_token is None:
        raise ConfigError(
            "set TRUSTLINE_BOT_USERNAME (the bot's @name) or TRUSTLINE_BOT_TOKEN, so that the "
            "link opens this bot."
        )
    try:
        return await telegram_username(settings)
    except Exception as exc:
        from bot.cli.problems import telegram_sentence

        sentence = telegram_sentence(exc)
        if sentence is None:
            raise
        raise ConfigError(
            f"{sentence.rstrip('.')}; or set TRUSTLINE_BOT_USERNAME to the bot's @name."
        ) from exc


@asynccontextmanager
async def cli_runtime(
    settings: Settings, *, bot_name: str | None = None, checked: bool = False
) -> AsyncIterator[tuple[Runtime, AsyncSession]]:
    """The runtime of bot.app.create_core (the bot's own assembly, without Telegram) and
    one transaction, committed when the block ends without an error. The database is
    checked first (check_ready; `checked`: the command did already), so a command
    that cannot work writes nothing. `bot_name`: the @name the links made in the block
    open (from bot_username); a command that makes links must give it."""
    from bot.app import opened_core

    if not checked:
        await check_ready(settings)
    async with opened_core(settings) as core:
        if bot_name is not None:
            core.rt.bot_username = bot_name
        async with core.sessionmaker() as session, session.begin():
            yield core.rt, session
