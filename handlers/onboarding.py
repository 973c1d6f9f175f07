"""Members: joining through an invite link, help, language, and switched-off accounts.

`router` runs before every role's router (an invite link must work whoever opens it);
`fallback` runs after them and before the student's router, so a member's stray message
never becomes a student's report.
"""

from __future__ import annotations

import logging

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Member
from bot.domain import Language, Role
from bot.services.labels import N_
from bot.services.organisation import invites, members
from bot.services.routing.queue import PsychologistsOnly
from bot.services.runtime import Runtime
from handlers.answers import ServiceErrorAnswer, explain, tell
from handlers.common import stale_button
from handlers.student import LANGUAGE_NAMES

log = logging.getLogger(__name__)

router = Router(name=__name__)
router.message.filter(F.chat.type == ChatType.PRIVATE)
router.message.middleware(ServiceErrorAnswer())
router.callback_query.middleware(ServiceErrorAnswer())

fallback = Router(name=f"{__name__}.fallback")
fallback.message.filter(F.chat.type == ChatType.PRIVATE)

ROLE_LABELS = {
    Role.SUPERVISOR: N_("supervisor"),
    Role.PSYCHOLOGIST: N_("psychologist"),
    Role.STAFF: N_("school staff"),
}
PSYCHOLOGIST_COMMANDS = ("queue", "take", "case", "note", "transfer", "release", "close", "recuse")
PSYCHOLOGIST_BUTTONS = ("take:", "tr:", "close:")


def is_member(_event: object, member: Member | None = None) -> bool:
    return member is not None


def is_inactive(
    _event: object, member: Member | None = None, inactive_member: Member | None = None
) -> bool:
    return member is None and inactive_member is not None


def role_name(role: str) -> str:
    return _(ROLE_LABELS.get(role, role))


def role_help(role: str) -> str:
    if role == Role.PSYCHOLOGIST:
        return _(
            "Your commands:\n/queue: open cases of your pool, urgent first\n/take CODE: take "
            "a case (or press Take on its card)\n/case CODE: the conversation of a case you "
            "hold\n/note TEXT: an internal note, never sent to the student\n/transfer: hand "
            "the case to another psychologist or back to the pool\n/release: give the case "
            "back to the pool\n/close: close the case with an outcome\n/recuse: step aside "
            "from a case (conflict of interest); nobody is told why\n/lang: language\n\n"
            "While a case is active, everything you write goes to its student, labelled as "
            "from the psychologist. To answer another case, reply to one of its messages. "
            "Without a code, a command works on the case you reply to, else the active one."
        )
    if role == Role.SUPERVISOR:
        return _(
            "Your commands:\n/invite: a one-time link for a psychologist or school staff\n"
            "/members: the accounts in your area\n/deactivate N: switch off account №N; its "
            "cases go back to the pool\n/stats: statistics\n/export: aggregate figures as "
            "CSV\n/lang: language\n\nYou never see what students write: only the "
            "psychologist who takes a case can read it."
        )
    return _(
        "Your commands:\n/posters: the school's classroom posters as one PDF\n/checkposter: "
        "check a photo of a poster on the wall\n/scans: weekly scan counts per poster\n/lang: "
        "language\n\nYou never see any report, count or content: the line is anonymous, "
        "also for the school."
    )


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


@router.message(is_inactive)
async def inactive_message(message: Message) -> None:
    await message.answer(
        _(
            "This account has been switched off. If that is a mistake, ask your supervisor for "
            "a new invite link."
        )
    )


@router.callback_query(is_inactive)
async def inactive_button(query: CallbackQuery) -> None:
    await query.answer(_("This account has been switched off."), show_alert=True)


@router.message(is_member, Command("start", "help"))
async def member_help(message: Message, member: Member) -> None:
    await message.answer(role_help(member.role))


@router.message(is_member, Command("lang"))
async def member_language(message: Message) -> None:
    await message.answer(
        _("In which language should the bot write to you?"),
        reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[
                [InlineKeyboardButton(text=name, callback_data=f"mlang:{code.value}")]
                for code, name in LANGUAGE_NAMES.items()
            ]
        ),
    )


@router.callback_query(is_member, F.data.startswith("mlang:"))
async def member_language_chosen(
    query: CallbackQuery, session: AsyncSession, rt: Runtime, member: Member, i18n: I18n
) -> None:
    lang = (query.data or "").removeprefix("mlang:")
    if lang not in {code.value for code in Language}:
        await stale_button(query)
        return
    member.language = lang
    i18n.current_locale = lang
    await query.answer()
    tell(session, rt, member, _("Language changed."))


# --- after the role routers ------------------------------------------------------------


@fallback.message(is_member, Command(*PSYCHOLOGIST_COMMANDS))
async def psychologists_only(message: Message) -> None:
    await message.answer(explain(PsychologistsOnly()))


@fallback.message(is_member)
async def member_unknown(message: Message, member: Member) -> None:
    """Members' messages are never relayed anywhere except a psychologist's to a student."""
    await message.answer(_("I did not understand that.") + "\n\n" + role_help(member.role))


@fallback.callback_query(is_member)
async def member_button(query: CallbackQuery) -> None:
    if (query.data or "").startswith(PSYCHOLOGIST_BUTTONS):
        await query.answer(explain(PsychologistsOnly()), show_alert=True)
        return
    await stale_button(query)
