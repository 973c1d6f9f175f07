"""`/mute CODE` and `/unmute CODE`: a psychologist stops (or resumes) the relays of an
abusive case they hold. The student notices nothing; see bot.services.casework.flood."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Member
from bot.services.casework import codes, flood
from bot.services.errors import NotAllowed, NotFound
from bot.services.runtime import Runtime
from handlers.answers import setup_middlewares
from handlers.filters import is_psychologist, private_chat

router = setup_middlewares(Router(name=__name__))
router.message.filter(private_chat, is_psychologist)


@router.message(Command("mute", "unmute"))
async def mute(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    rt: Runtime,
    member: Member,
) -> None:
    muted = command.command == "mute"
    if not (command.args or "").strip():
        await message.answer(_("Name the case: /mute #7KQ2-M9XD (or /unmute #7KQ2-M9XD)."))
        return
    try:
        case = await flood.set_muted(session, rt, member, command.args or "", muted=muted)
    except NotFound:
        await message.answer(_("There is no case with that code."))
        return
    except NotAllowed:
        await message.answer(_("Only the psychologist who holds a case can mute it."))
        return
    code = codes.display(case.code)
    if muted:
        await message.answer(
            _(
                "{code} is muted: its messages are still saved, but no longer relayed to you. "
                "The student notices nothing. /unmute {code} undoes it."
            ).format(code=code)
        )
    else:
        await message.answer(_("{code} is no longer muted.").format(code=code))
