"""A database that cannot be used at start, said in one sentence instead of a traceback."""

from __future__ import annotations

import os
import socket
import sqlite3

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.config import DEFAULT_DATABASE_URL

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
    for error in _chain(exc):
        if isinstance(error, socket.gaierror):
            return "the host name is unknown"
        if isinstance(error, ConnectionRefusedError):
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
        if isinstance(error, OSError) and error.strerror:
            return error.strerror.lower()
    return None


def database_sentence(exc: BaseException) -> str | None:
    """One sentence naming the database (never its password) and what is wrong, or None
    when `exc` is not about reaching the database."""
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
