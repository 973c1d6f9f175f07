"""Per-update plumbing: one transaction, idempotency, answers through the outbox, who is
writing, and their language."""

from __future__ import annotations

import asyncio
import base64
import logging
import uuid
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.client.default import Default
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.enums import ChatType
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import TelegramMethod
from aiogram.types import Chat, InputFile, TelegramObject, Update, User
from aiogram.types.update import UpdateTypeLookupError
from aiogram.utils.i18n import I18n, I18nMiddleware
from pydantic import BaseModel
from sqlalchemy import Table, inspect, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.aiogram_adapter import api_method, returns_bool
from bot.db.models import Case, Member, ProcessedUpdate, Student
from bot.delivery import outbox
from bot.domain import CaseStatus
from bot.i18n import language_from_telegram, normalize_language
from bot.services.casework import cases, lean
from bot.services.runtime import Runtime

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class HeldCall:
    """A Bot API call made inside an update, with when it was made: as an outbox row it
    takes its place among the rows services queued around it, in the order things were
    said (rows are ordered by creation time, then by their time-ordered id)."""

    method: TelegramMethod[Any]
    at: datetime
    row_id: uuid.UUID


@dataclass(slots=True)
class HeldCalls:
    now: Callable[[], datetime]
    calls: list[HeldCall] = field(default_factory=list)


# Bot API calls made by a handler while its update's transaction is open, in order.
_held_calls: ContextVar[HeldCalls | None] = ContextVar("trustline_held_calls", default=None)
# For what is not a message (answerCallbackQuery, sendChatAction): made after commit.
HELD_CALL_ATTEMPTS = 3
# Handler data: a list a handler appends work to that must not hold the transaction (seconds
# of CPU, such as rendering posters); each is awaited with the sessionmaker once the update
# has committed and its replies are made, and opens its own transactions if it writes.
AFTER_COMMIT = "after_commit"
AfterCommit = Callable[[async_sessionmaker[AsyncSession]], Awaitable[None]]


class HeldReply:
    """What a handler gets back from a held call. The message does not exist yet, so it has
    no id; a flow that needs one must go through the outbox (which records relays)."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(
            f"a reply made inside an update is sent after commit; it has no {name!r} yet"
        )


class RepliesAfterCommit(BaseRequestMiddleware):
    """Bot API session middleware: calls made inside an update's transaction are held.
    Messages among them become outbox rows of that transaction (TransactionMiddleware), the
    rest are made once it has committed, so nobody is told anything the database could
    still forget (and a rolled back update says nothing at all). Reads (`get…`) go through
    at once."""

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[Any],
        bot: Bot,
        method: TelegramMethod[Any],
    ) -> Any:
        held = _held_calls.get()
        if held is None or type(method).__name__.startswith("Get"):
            return await make_request(bot, method)
        held.calls.append(HeldCall(method, held.now(), outbox.ordered_id()))
        return True if returns_bool(method) else HeldReply()


def is_message(method: TelegramMethod[Any]) -> bool:
    """Calls that put something in a chat (or change what is there): they must arrive, so
    they take the outbox. A callback answer or a chat action is no message: worthless a
    minute later, it is made at once after commit."""
    name = api_method(method)
    return (
        name.startswith(("send", "edit", "copy")) or name == "deleteMessage"
    ) and name != "sendChatAction"


async def make_held_calls(bot: Bot, calls: list[TelegramMethod[Any]]) -> None:
    """Best effort, in order: what must arrive went into the outbox instead."""
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
                log.warning(
                    "reply_failed method=%s error=%s", type(call).__name__, type(exc).__name__
                )
                break


async def hold_in_outbox(
    session: AsyncSession,
    rt: Runtime,
    bot: Bot,
    data: dict[str, Any],
    held: list[HeldCall],
) -> list[TelegramMethod[Any]]:
    """Turn the messages a handler sent into outbox rows of its update's transaction, in
    order; return the calls that are not messages (made after commit).

    A reply goes to the writer's chat, addressed as the outbox addresses anyone: an active
    member by their account, a student by their open case (so it keeps its place among the
    case's other messages, and /forget stops it), anyone else by `outbox.Chat`.
    """
    chat: Chat | None = data.get("event_chat")
    if not any(is_message(h.method) for h in held):
        return [h.method for h in held]
    if chat is None:
        log.warning("reply_without_chat")
        return [h.method for h in held]
    target = await _reply_target(session, rt, data, chat.id)
    rest: list[TelegramMethod[Any]] = []
    for h in held:
        call = h.method
        if not is_message(call) or getattr(call, "chat_id", None) != chat.id:
            if is_message(call):  # no flow does this; a message elsewhere has no target
                log.warning("reply_to_other_chat method=%s", api_method(call))
            rest.append(call)
            continue
        params = await _params_of(bot, call)
        outbox.enqueue(
            session, rt.vault, target, api_method(call), params, now=h.at, row_id=h.row_id
        )
    return rest


async def _reply_target(
    session: AsyncSession, rt: Runtime, data: dict[str, Any], chat_id: int
) -> Case | Member | outbox.Chat:
    member: Member | None = data.get("member")
    if member is not None and member.active and not _gone(member):
        return member
    user: User | None = data.get("event_from_user")
    if data.get("inactive_member") is None and user is not None and user.id == chat_id:
        student: Student | None = data.get("student")
        if student is None or _gone(student):
            # Made by the handler (first /start), or deleted by /forget (then None).
            student = await cases.get_student(session, rt, user.id)
        if student is not None and student.active_case_id is not None:
            case = await session.get(Case, student.active_case_id)
            if (
                case is not None
                and case.status != CaseStatus.CLOSED
                and case.chat_id_enc is not None
                and case.wrapped_key is not None
            ):
                return case
    return outbox.Chat(chat_id)


def _gone(row: object) -> bool:
    state = inspect(row)
    return bool(state.deleted or state.was_deleted)


async def _params_of(bot: Bot, call: TelegramMethod[Any]) -> dict[str, Any]:
    """A held call's parameters as JSON, without the chat (the outbox adds it when sending)
    and without aiogram's defaults (applied again when the row is sent). Uploaded files
    travel inside the sealed payload and are erased with it once sent."""
    params: dict[str, Any] = {}
    for name, value in call:
        if name == "chat_id" or value is None or isinstance(value, Default):
            continue
        if isinstance(value, InputFile):
            content = b"".join([chunk async for chunk in value.read(bot)])
            params[name] = {
                outbox.FILE: value.filename or "file",
                "data": base64.b64encode(content).decode(),
            }
        elif isinstance(value, BaseModel):
            params[name] = value.model_dump(mode="json", exclude_none=True)
        elif isinstance(value, list):
            params[name] = [
                v.model_dump(mode="json", exclude_none=True) if isinstance(v, BaseModel) else v
                for v in value
            ]
        else:
            params[name] = value
    return params


class TransactionMiddleware(BaseMiddleware):
    """Outer middleware on updates: one transaction per update, committed before any reply
    that depends on it is sent (replies become outbox rows of it, sent after commit).

    Idempotent: the update id is inserted into `processed_updates` in the same transaction,
    so a redelivered update (polling after a crash, a webhook retried by Telegram, two
    instances receiving the same one) changes nothing the second time. When the handler
    fails, everything rolls back, the id included, and the exception reaches the caller so
    the update is not confirmed (polling retries it; a webhook answers 500).
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        rt: Runtime,
        after_commit: Callable[[], None],
    ) -> None:
        self.sessionmaker = sessionmaker
        self.rt = rt
        self.after_commit = after_commit

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        known = _known_type(event)
        held = HeldCalls(self.rt.now)
        calls: list[TelegramMethod[Any]] = []
        later: list[AfterCommit] = []
        lean_message = lean_candidate(event) if self.rt.settings.lean_student_path else None
        token = _held_calls.set(held)
        try:
            async with self.sessionmaker() as session:
                async with session.begin():
                    if lean_message is not None:
                        # The most frequent update in one read and one write; anything else
                        # it hands over, having written nothing, to the ORM path below.
                        outcome = await lean.submit(session, self.rt, lean_message)
                        if outcome is lean.Outcome.DUPLICATE:
                            log.info("update_duplicate_skipped update=%s", event.update_id)
                            return None
                    if lean_message is None or outcome is lean.Outcome.HANDOVER:
                        if not await self._first_time(session, event.update_id):
                            log.info("update_duplicate_skipped update=%s", event.update_id)
                            return None
                        if not known:
                            # A newer Bot API's update type: remembered and dropped here,
                            # since aiogram's own warning would print the whole update
                            # (names, ids).
                            log.info("update_unknown_type update=%s", event.update_id)
                            return None
                        data["session"] = session
                        data["rt"] = self.rt
                        data[AFTER_COMMIT] = later
                        result = await handler(event, data)
                        # Still in the transaction: what the handler said is written with
                        # what it did, and delivered by the outbox sender like everything
                        # else.
                        calls = await hold_in_outbox(
                            session, self.rt, data["bot"], data, held.calls
                        )
                    else:
                        result = None  # stored and answered (outbox rows) by the lean path
        finally:
            _held_calls.reset(token)
        self.after_commit()
        await make_held_calls(data["bot"], calls)
        for work in later:
            await work(self.sessionmaker)
        if later:
            self.after_commit()  # what the work queued
        return result

    async def _first_time(self, session: AsyncSession, update_id: int) -> bool:
        # One INSERT … ON CONFLICT DO NOTHING: a savepoint around a plain insert took three
        # round trips on every update. A concurrent duplicate still waits for the first
        # one's transaction and then inserts nothing, as before.
        table = ProcessedUpdate.__table__
        assert isinstance(table, Table)  # typed as any FromClause; a mapped class has a Table
        dialect = session.get_bind().dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        inserted = await session.execute(
            insert(table)
            .values(update_id=update_id, at=self.rt.now())
            .on_conflict_do_nothing()
            .returning(table.c.update_id)
        )
        return inserted.first() is not None


def lean_candidate(update: Update) -> lean.StudentText | None:
    """The update as the lean path takes it (bot.services.casework.lean): a private plain
    text, not a command nor the 🆘 button, from a person. Whether they are a known student
    with an open case is for the lean path's one read to say."""
    message = update.message
    if message is None or message.chat.type != ChatType.PRIVATE:
        return None
    user = message.from_user
    if user is None or user.is_bot or not lean.eligible_text(message.text):
        return None
    assert message.text is not None
    return lean.StudentText(
        update.update_id, user.id, message.chat.id, message.message_id, message.text
    )


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
