"""A database or a Telegram that cannot be used, said in one sentence instead of a
traceback. A network error is Telegram's when aiogram raised it (its Bot API client wraps
the connection error), the database's otherwise: the two used to be told apart by nothing,
so an unreachable Telegram was reported as a database that does not answer."""

from __future__ import annotations

import errno
import os
import socket
import sqlite3
import sys
from urllib.parse import urlsplit, urlunsplit

# SQLSTATE prefixes (PostgreSQL) and what they mean to whoever runs the bot.
_SQLSTATE_REASONS = (
    ("3D", "that database does not exist (create it, then run trustline db upgrade)"),
    ("28", "the server refused that user or password"),
    ("08", "the server did not accept the connection"),
    ("57P03", "the server is starting up or shutting down"),
)


def _chain(exc: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in found:
        found.append(current)
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return found


def _reason(exc: BaseException) -> str | None:
    chain = _chain(exc)
    for error in chain:
        if isinstance(error, socket.gaierror):
            return "the host name is unknown"
        if isinstance(error, ConnectionRefusedError) or (
            isinstance(error, OSError) and error.errno == errno.ECONNREFUSED
        ):
            return "nothing answers at that host and port (is the server running?)"
        if isinstance(error, TimeoutError):
            return "the server did not answer in time"
        code = getattr(error, "sqlstate", None)
        if isinstance(code, str):
            for prefix, reason in _SQLSTATE_REASONS:
                if code.startswith(prefix):
                    return reason
        if isinstance(error, sqlite3.OperationalError) and "unable to open" in str(error):
            return (
                "the file cannot be opened or created there (does the folder exist, "
                "may the bot write to it?)"
            )
    # A wrapper's words (aiohttp's "Connect call failed ...") only when nothing in the
    # chain says more.
    for error in chain:
        if isinstance(error, OSError) and error.strerror:
            return error.strerror.lower()
    return None


def telegram_api_shown() -> str:
    """TRUSTLINE_TELEGRAM_API as it may be printed: without a user or password in it."""
    from bot.config import Settings

    try:
        url = Settings().telegram_api  # the environment or .env, as the command read it
    except ValueError:  # settings that do not validate: the variable as it is
        url = os.environ.get("TRUSTLINE_TELEGRAM_API", "https://api.telegram.org")
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def telegram_sentence(exc: BaseException) -> str | None:
    """One sentence saying what is wrong with reaching Telegram, or None when `exc` did not
    come from the Bot API client."""
    errors = sys.modules.get("aiogram.exceptions")
    if errors is None:  # aiogram never loaded: nothing spoke to Telegram
        return None
    where = f"TRUSTLINE_TELEGRAM_API={telegram_api_shown()}"
    for error in _chain(exc):
        if isinstance(error, errors.TelegramUnauthorizedError):
            return (
                "Telegram rejected TRUSTLINE_BOT_TOKEN (401 Unauthorized); copy the token "
                "again from @BotFather."
            )
        if isinstance(error, errors.TelegramNotFound):
            return (
                f"Telegram at {where} does not know this bot (404); check "
                "TRUSTLINE_BOT_TOKEN and TRUSTLINE_TELEGRAM_API."
            )
        if isinstance(error, errors.TelegramServerError):
            return f"Telegram at {where} answered with a server error; try again in a minute."
        if isinstance(error, errors.TelegramNetworkError):
            reason = _reason(error) or "the connection failed"
            return f"cannot reach Telegram at {where}: {reason}."
    return None


def database_sentence(exc: BaseException, url: str | None = None) -> str | None:
    """One sentence naming the database (`url`, by default TRUSTLINE_DATABASE_URL; never
    its password) and what is wrong, or None when `exc` is not about reaching it."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from bot.config import DEFAULT_DATABASE_URL

    if url is None:
        url = os.environ.get("TRUSTLINE_DATABASE_URL", DEFAULT_DATABASE_URL)
    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        # Nothing could have worked: every command opens the database first.
        return (
            "TRUSTLINE_DATABASE_URL is not a database URL; it should look like "
            "postgresql+asyncpg://user:password@host:5432/dbname or "
            "sqlite+aiosqlite:///path/to/file.sqlite3."
        )
    reason = _reason(exc)
    if reason is None:
        return None
    return f"cannot use the database TRUSTLINE_DATABASE_URL={shown}: {reason}."
