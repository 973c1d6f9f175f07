"""Members: joining through an invite link, help, language, and switched-off accounts.

`router` runs before every role's router (an invite link must work whoever opens it);
`fallback` runs after them and before the student's router, so a member's stray message
never becomes a student's report.
"""

from __future__ import annotations

import logging

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart, or_f
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import CloseCase, MemberLanguage, TakeCase, TransferCase
from bot.db.models import Member
from bot.delivery import menus
from bot.delivery.notices import tell
from bot.services.organisation import invites, members
from bot.services.routing.queue import PsychologistsOnly
from bot.services.runtime import Runtime
from handlers.answers import (
    LANGUAGE_NAMES,
    explain,
    role_help,
    role_name,
    setup_middlewares,
    stale_button,
)
from handlers.filters import is_inactive, is_member, private_chat

log = logging.getLogger(__name__)

router = setup_middlewares(Router(name=__name__))
router.message.filter(private_chat)

fallback = setup_middlewares(Router(name=f"{__name__}.fallback"))
fallback.message.filter(private_chat)

PSYCHOLOGIST_COMMANDS = ("queue", "take", "case", "note", "transfer", "release", "close", "recuse")
psychologist_button = or_f(TakeCase.filter(), TransferCase.filter(), CloseCase.filter())


@router.message(CommandStart(deep_link=True, magic=F.args.startswith(invites.PREFIX)))
async def join(
    message: Message, command: CommandObject, session: AsyncSession, rt: Runtime, i18n: I18n
) -> None:
    assert message.from_user is not None
    token = invites.token_of(command.args or "")
    if token is None:
        raise invites.InviteInvalid()
    member = await invites.redeem(
        session,
        rt,
        token,
        telegram_user_id=message.from_user.id,
        chat_id=message.chat.id,
        language_code=message.from_user.language_code,
    )
    i18n.current_locale = member.language
    place = await members.place_label(session, members.scope_of_member(member))
    log.info("member_joined member=%s role=%s", member.id, member.role)
    tell(
        session,
        rt,
        member,
        _(
            "Welcome to TrustLine. This account is now registered as {role} for {place}, "
            "number {number}. Nobody here sees your name."
        ).format(role=role_name(member.role), place=place, number=members.number(member)),
    )
    tell(session, rt, member, role_help(member.role))
    menus.queue_member_menu(session, rt, member, now=rt.now())


@router.message(is_inactive)
async def inactive_message(message: Message) -> None:
    await message.answer(
        _(
            "This account has been switched off. If that is a mistake, ask your supervisor for "
            "a new invite link."
        )
    )


@router.callback_query(is_inactive)
async def inactive_button(query: CallbackQuery, callback_answer: CallbackAnswer) -> None:
    callback_answer.text = _("This account has been switched off.")
    callback_answer.show_alert = True


@router.message(is_member, Command("start", "help"))
async def member_help(message: Message, member: Member) -> None:
    await message.answer(role_help(member.role))


@router.message(is_member, Command("lang"))
async def member_language(message: Message) -> None:
    await message.answer(
        _("In which language should the bot write to you?"),
        reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(
                        text=name, callback_data=MemberLanguage(language=code).pack()
                    )
                ]
                for code, name in LANGUAGE_NAMES.items()
            ]
        ),
    )


@router.callback_query(is_member, MemberLanguage.filter())
async def member_language_chosen(
    query: CallbackQuery,
    callback_data: MemberLanguage,
    session: AsyncSession,
    rt: Runtime,
    member: Member,
    i18n: I18n,
) -> None:
    lang = callback_data.language.value
    member.language = lang
    i18n.current_locale = lang
    tell(session, rt, member, _("Language changed."))
    menus.queue_member_menu(session, rt, member, now=rt.now())


# --- after the role routers ------------------------------------------------------------


@fallback.message(is_member, Command(*PSYCHOLOGIST_COMMANDS))
async def psychologists_only(message: Message) -> None:
    await message.answer(explain(PsychologistsOnly()))


@fallback.message(is_member)
async def member_unknown(message: Message, member: Member) -> None:
    """Members' messages are never relayed anywhere except a psychologist's to a student."""
    await message.answer(_("I did not understand that.") + "\n\n" + role_help(member.role))


@fallback.callback_query(is_member, psychologist_button)
async def psychologists_only_button(query: CallbackQuery, callback_answer: CallbackAnswer) -> None:
    callback_answer.text = explain(PsychologistsOnly())
    callback_answer.show_alert = True


@fallback.callback_query(is_member)
async def member_button(query: CallbackQuery, callback_answer: CallbackAnswer) -> None:
    stale_button(callback_answer)
