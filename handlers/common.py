"""Updates nobody should handle: group chats, and edited messages (explained, not read).

Its handlers call no service, so it takes no answering middlewares (handlers.answers)."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.db.models import Member
from handlers.filters import is_psychologist, is_student

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
    if is_student(message, member, inactive_member):
        text = _(
            "Edited messages are not passed on to the psychologist. If you want to add "
            "or correct something, just write a new message."
        )
    elif is_psychologist(message, member):
        text = _(
            "Edited messages are not passed on to the student. To correct something, "
            "send a new message."
        )
    else:
        text = _("The bot does not read edited messages. Send the command again as a new message.")
    await message.answer(text)
