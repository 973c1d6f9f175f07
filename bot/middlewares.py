"""Per-update plumbing: one transaction, idempotency, answers after commit, who is writing,
and their language."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import TelegramMethod
from aiogram.types import TelegramObject, Update, User
from aiogram.types.update import UpdateTypeLookupError
from aiogram.utils.i18n import I18n, I18nMiddleware
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import Member, ProcessedUpdate
from bot.i18n import language_from_telegram, normalize_language
from bot.services import cases
from bot.services.runtime import Runtime

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]

# Bot API calls made by a handler while its update's transaction is open, in order.
_held_calls: ContextVar[list[TelegramMethod[Any]] | None] = ContextVar(
    "trustline_held_calls", default=None
)
HELD_CALL_ATTEMPTS = 3


class HeldReply:
    """What a handler gets back from a held call. The message does not exist yet, so it has
    no id; a flow that needs one must go through the outbox (which records relays)."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(
            f"a reply made inside an update is sent after commit; it has no {name!r} yet"
        )


class RepliesAfterCommit(BaseRequestMiddleware):
    """Bot API session middleware: calls made inside an update's transaction are held and
    made once it has committed, so nobody is told anything the database could still forget
    (and a rolled back update says nothing at all). Reads (`get…`) go through at once."""

    async def __call__(
        self, make_request: NextRequestMiddlewareType[Any], bot: Bot,
        method: TelegramMethod[Any],
    ) -> Any:
        held = _held_calls.get()
        if held is None or type(method).__name__.startswith("Get"):
            return await make_request(bot, method)
        held.append(method)
        return True if method.__returning__ is bool else HeldReply()


async def make_held_calls(bot: Bot, calls: list[TelegramMethod[Any]]) -> None:
    """Best effort, in order: what must arrive goes through the durable outbox instead."""
    for call in calls:
        for attempt in range(1, HELD_CALL_ATTEMPTS + 1):
            try:
                await bot(call)
                break
            except TelegramRetryAfter as exc:
                await asyncio.sleep(exc.retry_after)
            except (TelegramNetworkError, TelegramServerError):
                await asyncio.sleep(0.5 * attempt)
            except TelegramAPIError as exc:
                log.warning("reply_failed method=%s error=%s", type(call).__name__,
                            type(exc).__name__)
                break


class TransactionMiddleware(BaseMiddleware):
    """Outer middleware on updates: one transaction per update, committed before any reply
    that depends on it is sent (replies go through the outbox, sent after commit).

    Idempotent: the update id is inserted into `processed_updates` in the same transaction,
    so a redelivered update (polling after a crash, a webhook retried by Telegram, two
    instances receiving the same one) changes nothing the second time. When the handler
    fails, everything rolls back, the id included, and the exception reaches the caller so
    the update is not confirmed (polling retries it; a webhook answers 500).
    """

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], rt: Runtime,
        after_commit: Callable[[], None],
    ) -> None:
        self.sessionmaker = sessionmaker
        self.rt = rt
        self.after_commit = after_commit

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        known = _known_type(event)
        held: list[TelegramMethod[Any]] = []
        token = _held_calls.set(held)
        try:
            async with self.sessionmaker() as session:
                async with session.begin():
                    if not await self._first_time(session, event.update_id):
                        log.info("update_duplicate_skipped update=%s", event.update_id)
                        return None
                    if not known:
                        # A newer Bot API's update type: remembered and dropped here, since
                        # aiogram's own warning would print the whole update (names, ids).
                        log.info("update_unknown_type update=%s", event.update_id)
                        return None
                    data["session"] = session
                    data["rt"] = self.rt
                    result = await handler(event, data)
        finally:
            _held_calls.reset(token)
        self.after_commit()
        await make_held_calls(data["bot"], held)
        return result

    async def _first_time(self, session: AsyncSession, update_id: int) -> bool:
        # One INSERT … ON CONFLICT DO NOTHING: a savepoint around a plain insert took three
        # round trips on every update. A concurrent duplicate still waits for the first
        # one's transaction and then inserts nothing, as before.
        table = ProcessedUpdate.__table__
        dialect = session.get_bind().dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        inserted = await session.execute(
            insert(table).values(update_id=update_id, at=self.rt.now())
            .on_conflict_do_nothing().returning(table.c.update_id)
        )
        return inserted.first() is not None


def _known_type(update: Update) -> bool:
    try:
        update.event_type  # noqa: B018 - raises for types this aiogram does not know
    except UpdateTypeLookupError:
        return False
    return True


class IdentityMiddleware(BaseMiddleware):
    """Resolve the sender to a member (by pseudonym) or leave them a student.

    The Telegram user id is used only to compute the keyed pseudonym, then dropped. An
    update that names no person (no sender, or a bot) is remembered and left alone: every
    flow here answers someone.
    """

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None or user.is_bot:
            log.info("update_without_sender")
            return None
        session: AsyncSession = data["session"]
        rt: Runtime = data["rt"]
        data["member"] = None
        data["student"] = None
        pseudonym = rt.vault.pseudonyms.member_id(user.id)
        member = await session.scalar(select(Member).where(Member.pseudonym == pseudonym))
        if member is not None and member.active:
            data["member"] = member
        elif member is not None:
            data["inactive_member"] = member
        else:
            data["student"] = await cases.get_student(session, rt, user.id)
        # Read while the rows are attached: after a rollback the error handlers still need it.
        data[LOCALE_KEY] = LanguageMiddleware.locale_of(data)
        return await handler(event, data)


LOCALE_KEY = "trustline_locale"


class LanguageMiddleware(I18nMiddleware):
    """The reader's language: their stored choice, else Telegram's language_code."""

    def __init__(self, i18n: I18n) -> None:
        super().__init__(i18n=i18n)

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        # Found by IdentityMiddleware while the rows were attached: the error event after a
        # rollback asks again, when they are not.
        if (known := data.get(LOCALE_KEY)) is not None:
            return str(known)
        return self.locale_of(data)

    @staticmethod
    def locale_of(data: dict[str, Any]) -> str:
        member = data.get("member") or data.get("inactive_member")
        if member is not None:
            return str(member.language)
        student = data.get("student")
        if student is not None and student.language:
            return str(student.language)
        user: User | None = data.get("event_from_user")
        return normalize_language(language_from_telegram(user.language_code if user else None))
