"""Telegram's command menus: one list per role, in each of the bot's languages.

A student's menu is the bot's menu in every private chat (scope all_private_chats, one per
language and one without, for the languages we do not speak); it is set straight with the Bot
API at start, since it names no chat. A member's own menu is set in their chat (scope
BotCommandScopeChat), which names the chat: it goes through the outbox as a row of the
member, so the chat id is opened only when sending (bot.delivery.sender), and comes in the
member's language. A switched-off member's chat menu is deleted (their chat falls back to
the student's menu) through a row of their chat, like the message that tells them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import Member
from bot.delivery import outbox
from bot.domain import Language, Role
from bot.i18n import DEFAULT_LANGUAGE, Translate
from bot.services.labels import N_
from bot.services.runtime import Runtime

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.types import BotCommand

log = logging.getLogger(__name__)

# The Bot API methods whose chat goes into a BotCommandScopeChat, not into chat_id.
SCOPED_METHODS = frozenset({"setMyCommands", "deleteMyCommands"})

STUDENT_MENU: tuple[tuple[str, str], ...] = (
    ("start", N_("Start")),
    ("sos", N_("Urgent help now")),
    ("help", N_("How it works")),
    ("privacy", N_("What is kept and who sees it")),
    ("lang", N_("Change language")),
    ("forget", N_("Unlink this chat from my messages")),
)

MEMBER_MENUS: dict[str, tuple[tuple[str, str], ...]] = {
    Role.PSYCHOLOGIST: (
        ("queue", N_("Open cases of your pool")),
        ("mine", N_("The cases you hold")),
        ("templates", N_("Saved replies")),
        ("take", N_("Take a case")),
        ("case", N_("The conversation of a case")),
        ("note", N_("An internal note")),
        ("transfer", N_("Hand a case over")),
        ("release", N_("Give a case back to the pool")),
        ("close", N_("Close a case")),
        ("recuse", N_("Step aside from a case")),
        ("mystats", N_("Your own figures")),
        ("lang", N_("Change language")),
        ("help", N_("Your commands")),
    ),
    Role.SUPERVISOR: (
        ("invite", N_("A one-time invite link")),
        ("invites", N_("Pending invites")),
        ("members", N_("The accounts in your area")),
        ("deactivate", N_("Switch off an account")),
        ("stats", N_("Statistics")),
        ("export", N_("Aggregate figures as CSV")),
        ("lang", N_("Change language")),
        ("help", N_("Your commands")),
    ),
    Role.STAFF: (
        ("posters", N_("The school's classroom posters")),
        ("checkposter", N_("Check a photo of a poster")),
        ("scans", N_("Weekly scan counts")),
        ("lang", N_("Change language")),
        ("help", N_("Your commands")),
    ),
}


def commands(tr: Translate, menu: tuple[tuple[str, str], ...], lang: str) -> list[BotCommand]:
    # aiogram is imported where a menu is built, not with this module: services that queue
    # a menu's reset (members.py) are imported by CLI commands that never speak to Telegram.
    from aiogram.types import BotCommand

    return [BotCommand(command=name, description=tr(lang, text)) for name, text in menu]


def menu_params(tr: Translate, menu: tuple[tuple[str, str], ...], lang: str) -> dict[str, Any]:
    """setMyCommands' parameters for an outbox row (the scope is added when sending)."""
    listed = [c.model_dump(mode="json") for c in commands(tr, menu, lang)]
    return {"commands": listed, "language_code": lang}


async def set_student_menus(bot: Bot, tr: Translate) -> None:
    """Every private chat's menu: the student's, in each language and once without one."""
    from aiogram.types import BotCommandScopeAllPrivateChats

    scope = BotCommandScopeAllPrivateChats()
    for lang in Language:
        await bot.set_my_commands(
            commands(tr, STUDENT_MENU, lang.value), scope=scope, language_code=lang.value
        )
    await bot.set_my_commands(commands(tr, STUDENT_MENU, DEFAULT_LANGUAGE.value), scope=scope)


def member_menu(rt: Runtime, member: Member) -> dict[str, Any] | None:
    """setMyCommands' parameters for the member's own chat, or None (no menu of their own)."""
    menu = MEMBER_MENUS.get(member.role)
    if menu is None or not member.active:
        return None
    params = menu_params(rt.tr, menu, member.language)
    params.pop("language_code")  # a chat's own menu: whatever language the app shows
    return params


def menu_digest(params: dict[str, Any]) -> str:
    """Names one menu: the same commands and words give the same digest."""
    encoded = json.dumps(params, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.sha256(encoded).hexdigest()[:16]


def queue_member_menu(
    session: AsyncSession, rt: Runtime, member: Member, *, now: datetime
) -> None:
    """The member's menu in their chat, in their language, sent after commit (unless that
    very menu was queued already)."""
    params = member_menu(rt, member)
    if params is None:
        return
    digest = menu_digest(params)
    if member.menu_digest == digest:
        return
    member.menu_digest = digest
    outbox.enqueue(session, rt.vault, member, "setMyCommands", params, now=now)


def queue_menu_reset(session: AsyncSession, rt: Runtime, member: Member, *, now: datetime) -> None:
    """A switched-off member's chat goes back to the student's menu: their chat's own list is
    deleted. To their chat, not their account (rows of a switched-off account are dropped)."""
    member.menu_digest = None  # switched on again, they get their menu again
    chat = outbox.Chat(rt.vault.member_chat_id(member))
    outbox.enqueue(session, rt.vault, chat, "deleteMyCommands", {}, now=now)


async def install(bot: Bot, sessionmaker: async_sessionmaker[AsyncSession], rt: Runtime) -> None:
    """At start: the student's menus, and every active member's own queued where it changed
    (in id order, so processes starting together lock rows in one order). A menu is a
    convenience: Telegram refusing it is logged, and the bot starts all the same."""
    from aiogram.exceptions import AiogramError

    try:
        await set_student_menus(bot, rt.tr)
    except (AiogramError, OSError, TimeoutError) as exc:
        log.warning("student_menus_not_set error=%s", type(exc).__name__)
    async with sessionmaker() as session, session.begin():
        active = await session.scalars(
            select(Member).where(Member.active.is_(True)).order_by(Member.id)
        )
        count = 0
        for member in active.all():
            params = member_menu(rt, member)
            if params is None:
                continue
            digest = menu_digest(params)
            if member.menu_digest == digest:
                continue  # the usual start: nothing changed, no statement
            # Only the process whose update changes the row queues it: another one starting
            # at the same time waits for the row, then finds the digest already there.
            changed = await session.execute(
                update(Member)
                .where(Member.id == member.id, Member.menu_digest.is_distinct_from(digest))
                .values(menu_digest=digest)
                .execution_options(synchronize_session=False)
            )
            if changed.rowcount:  # type: ignore[attr-defined]
                outbox.enqueue(session, rt.vault, member, "setMyCommands", params, now=rt.now())
                count += 1
    log.info("menus_set members=%s", count)
