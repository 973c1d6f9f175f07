"""Updates nobody should handle (group chats) and errors turned into kind answers."""

from __future__ import annotations

import logging

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import CallbackQuery, ErrorEvent, Message
from aiogram.utils.i18n import gettext as _

from bot.db.models import Member
from bot.domain import Role
from bot.services.errors import ServiceError

log = logging.getLogger(__name__)

router = Router(name=__name__)


@router.message(F.chat.type != ChatType.PRIVATE)
async def ignore_group_message(message: Message) -> None:
    """The bot never talks in groups: nothing there is anonymous."""


@router.edited_message()
async def edited_message(
    message: Message, member: Member | None = None, inactive_member: Member | None = None
) -> None:
    if message.chat.type != ChatType.PRIVATE:
        return
    if member is None and inactive_member is None:
        text = _(
            "Edited messages are not passed on to the psychologist. If you want to add "
            "or correct something, just write a new message."
        )
    elif member is not None and member.role == Role.PSYCHOLOGIST:
        text = _(
            "Edited messages are not passed on to the student. To correct something, "
            "send a new message."
        )
    else:
        text = _("The bot does not read edited messages. Send the command again as a new message.")
    await message.answer(text)


@router.errors(ExceptionTypeFilter(ServiceError))
async def service_error(event: ErrorEvent) -> None:
    log.info("service_error kind=%s", type(event.exception).__name__)
    text = _("Sorry, that did not work. Please try again.")
    if event.update.message is not None:
        await event.update.message.answer(text)
    elif event.update.callback_query is not None:
        await event.update.callback_query.answer(text, show_alert=True)


async def stale_button(query: CallbackQuery) -> None:
    await query.answer(_("This button is no longer active."), show_alert=False)
