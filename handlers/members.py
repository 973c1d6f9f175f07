"""Supervisors manage the accounts of their area: invite, list, switch off.

Every button's data is checked again by the services: a forged button cannot invite to,
or switch off anyone in, a place outside the supervisor's own area.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.i18n import gettext as _
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import (
    InviteConfirm,
    InvitePsychologist,
    InviteRevoke,
    InviteRole,
    InviteSchools,
    InviteStaff,
)
from bot.db.models import District, Member, School
from bot.delivery import notices
from bot.delivery.notices import Button, Notice, Text, tell
from bot.domain import Role
from bot.services.organisation import invites, members
from bot.services.runtime import Runtime
from handlers.answers import role_name, setup_middlewares, stale_button
from handlers.filters import is_supervisor, private_chat

router = setup_middlewares(Router(name=__name__))
router.message.filter(private_chat, is_supervisor)
router.callback_query.filter(is_supervisor)

PAGE = 30
MESSAGE_LIMIT = 3900


def _keyboard(rows: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=text[:60], callback_data=data)] for text, data in rows
        ]
    )


def _paged(rows: list[tuple[str, str]], page: int, more_data: str) -> list[tuple[str, str]]:
    shown = rows[page * PAGE : (page + 1) * PAGE]
    if len(rows) > (page + 1) * PAGE:
        shown.append((_("More…"), more_data))
    return shown


@router.message(Command("invite"))
async def invite_start(message: Message) -> None:
    await message.answer(
        _("Whom do you want to invite?"),
        reply_markup=_keyboard(
            [
                (_("A psychologist"), InviteRole(role="p").pack()),
                (_("School staff"), InviteRole(role="s").pack()),
            ]
        ),
    )


async def _districts(session: AsyncSession, supervisor: Member) -> list[District]:
    if supervisor.district_id is not None:
        district = await session.get(District, supervisor.district_id)
        return [district] if district else []
    query = select(District).where(District.region_id == supervisor.region_id)
    return list((await session.scalars(query.order_by(District.name))).all())


@router.callback_query(InviteRole.filter())
async def invite_role(
    query: CallbackQuery,
    callback_data: InviteRole,
    callback_answer: CallbackAnswer,
    session: AsyncSession,
    member: Member,
) -> None:
    if not isinstance(query.message, Message):
        stale_button(callback_answer)
        return
    districts = await _districts(session, member)
    if callback_data.role == "p":
        rows = [(d.name, InvitePsychologist(level="d", place=d.id).pack()) for d in districts]
        if member.district_id is None and member.region_id is not None:
            place = await members.place_label(session, members.Scope(member.region_id))
            rows.insert(
                0,
                (
                    _("The whole region: {place}").format(place=place),
                    InvitePsychologist(level="r", place=member.region_id).pack(),
                ),
            )
        await query.message.answer(
            _("Which district will the psychologist serve?"), reply_markup=_keyboard(rows[:PAGE])
        )
        return
    if len(districts) == 1:
        await _school_page(query.message, session, districts[0].id, 0)
        return
    rows = [(d.name, InviteSchools(district=d.id, page=0).pack()) for d in districts]
    await query.message.answer(
        _("In which district is the school?"), reply_markup=_keyboard(rows[:PAGE])
    )


async def _school_page(
    message: Message, session: AsyncSession, district_id: int, page: int
) -> None:
    schools = (
        await session.scalars(
            select(School).where(School.district_id == district_id).order_by(School.name)
        )
    ).all()
    rows = [(s.name, InviteStaff(school=s.id).pack()) for s in schools]
    if not rows:
        await message.answer(_("No schools are known in this district yet."))
        return
    await message.answer(
        _("Which school?"),
        reply_markup=_keyboard(
            _paged(rows, page, InviteSchools(district=district_id, page=page + 1).pack())
        ),
    )


@router.callback_query(InviteSchools.filter())
async def invite_staff_district(
    query: CallbackQuery,
    callback_data: InviteSchools,
    callback_answer: CallbackAnswer,
    session: AsyncSession,
    member: Member,
) -> None:
    if not isinstance(query.message, Message):
        stale_button(callback_answer)
        return
    scope = await members.scope_of(session, district_id=callback_data.district)
    if not members.manages(member, scope):
        raise members.OutOfScope("district")
    await _school_page(query.message, session, callback_data.district, callback_data.page)


@router.callback_query(InvitePsychologist.filter())
async def invite_psychologist(
    query: CallbackQuery,
    callback_data: InvitePsychologist,
    callback_answer: CallbackAnswer,
    session: AsyncSession,
    rt: Runtime,
    member: Member,
) -> None:
    if not isinstance(query.message, Message):
        stale_button(callback_answer)
        return
    scope = await (
        members.scope_of(session, region_id=callback_data.place)
        if callback_data.level == "r"
        else members.scope_of(session, district_id=callback_data.place)
    )
    place = await members.place_label(session, scope)
    try:
        invite, others = await invites.request_psychologist_invite(session, rt, scope, by=member)
    except invites.NoSecondSupervisor:
        tell(
            session,
            rt,
            member,
            _(
                "A psychologist's invite needs a second supervisor's confirmation, and you are "
                "the only supervisor for {place}. Ask the TrustLine administrator to make the "
                "invite instead."
            ).format(place=place),
        )
        return
    for other in others:
        notices.send(
            session,
            rt,
            Notice(
                other,
                Text(
                    "Supervisor {number} asks to invite a psychologist for {place} (request "
                    "{invite}). A psychologist reads children's cases: confirm only if you "
                    "know about this. The link will go to {number}.",
                    number=members.number(member),
                    place=place,
                    invite=invite.id,
                ),
                buttons=((Button(Text("Confirm"), InviteConfirm(invite=invite.id)),),),
            ),
            now=rt.now(),
        )
    tell(
        session,
        rt,
        member,
        _(
            "A psychologist's invite needs a second supervisor's confirmation. I asked the "
            "other supervisors of {place}; the link comes to you once one of them confirms."
        ).format(place=place),
    )


@router.callback_query(InviteConfirm.filter())
async def invite_confirm(
    query: CallbackQuery,
    callback_data: InviteConfirm,
    callback_answer: CallbackAnswer,
    session: AsyncSession,
    rt: Runtime,
    member: Member,
) -> None:
    try:
        created, maker = await invites.confirm_invite(session, rt, member, callback_data.invite)
    except invites.InviteNotFound:
        tell(session, rt, member, _("This request is no longer waiting for a confirmation."))
        return
    place = await members.place_label(session, created.scope)
    notices.send(
        session,
        rt,
        Notice(
            maker,
            Text(
                "Supervisor {number} confirmed your request. One-time invite for a psychologist, "
                "{place}. It works once and expires in {hours} hours. Send it to that person "
                "privately, never in a group:\n{link}",
                number=members.number(member),
                place=place,
                hours=created.hours,
                link=created.link,
            ),
        ),
        now=rt.now(),
    )
    tell(
        session,
        rt,
        member,
        _("Confirmed. The invite link went to supervisor {number}.").format(
            number=members.number(maker)
        ),
    )


@router.message(Command("invites"))
async def list_invites(
    message: Message, session: AsyncSession, rt: Runtime, member: Member
) -> None:
    pending = await invites.pending_invites(session, rt, member)
    if not pending:
        await message.answer(_("No invites of your area are waiting to be used."))
        return
    lines = [_("Invites of your area not used yet: {count}").format(count=len(pending))]
    rows = []
    for invite in pending[:PAGE]:
        place = await members.place_label(session, invites.scope_of_invite(invite))
        until = invite.expires_at.strftime("%Y-%m-%d %H:%M UTC")
        lines.append(
            _("{number}. {role}, {place}, valid until {until}").format(
                number=invite.id, role=role_name(invite.role), place=place, until=until
            )
        )
        rows.append(
            (_("Revoke {number}").format(number=invite.id), InviteRevoke(invite=invite.id).pack())
        )
    await message.answer("\n".join(lines)[:MESSAGE_LIMIT], reply_markup=_keyboard(rows))


@router.callback_query(InviteRevoke.filter())
async def revoke_invite(
    query: CallbackQuery,
    callback_data: InviteRevoke,
    session: AsyncSession,
    rt: Runtime,
    member: Member,
) -> None:
    try:
        await invites.revoke(session, rt, member, callback_data.invite)
    except invites.InviteNotFound:
        tell(
            session,
            rt,
            member,
            _("This invite is no longer waiting: it was used, revoked or expired."),
        )
        return
    tell(
        session,
        rt,
        member,
        _("Invite {number} is revoked: its link no longer works.").format(
            number=callback_data.invite
        ),
    )


@router.callback_query(InviteStaff.filter())
async def invite_staff(
    query: CallbackQuery,
    callback_data: InviteStaff,
    callback_answer: CallbackAnswer,
    session: AsyncSession,
    rt: Runtime,
    member: Member,
) -> None:
    if not isinstance(query.message, Message):
        stale_button(callback_answer)
        return
    scope = await members.scope_of(session, school_id=callback_data.school)
    await _invite(session, rt, member, Role.STAFF, scope)


async def _invite(
    session: AsyncSession, rt: Runtime, member: Member, role: Role, scope: members.Scope
) -> None:
    created = await invites.create_invite(session, rt, role, scope, by=member)
    place = await members.place_label(session, scope)
    tell(
        session,
        rt,
        member,
        _(
            "One-time invite for {role}, {place}. It works once and expires in {hours} hours. "
            "Send it to that person privately, never in a group:\n{link}"
        ).format(role=role_name(role), place=place, hours=created.hours, link=created.link),
    )


@router.message(Command("members"))
async def list_members(message: Message, session: AsyncSession, member: Member) -> None:
    found = await members.members_in_scope(session, member)
    lines = [_("Active accounts in your area: {count}").format(count=len(found))]
    for other in found:
        place = await members.place_label(session, members.scope_of_member(other))
        line = f"{members.number(other)} · {role_name(other.role)} · {place}"
        if other.id == member.id:
            line += " · " + _("you")
        lines.append(line)
    lines.append(_("/deactivate N switches account №N off."))
    text = ""
    for line in lines:
        if len(text) + len(line) + 1 > MESSAGE_LIMIT:
            await message.answer(text)
            text = ""
        text = f"{text}\n{line}" if text else line
    await message.answer(text)


@router.message(Command("deactivate"))
async def deactivate(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    rt: Runtime,
    member: Member,
) -> None:
    number = (command.args or "").strip().lstrip("№#")
    if not number.isdigit():
        await message.answer(_("Write the account number from /members, e.g. /deactivate 12"))
        return
    target, returned = await members.deactivate(session, rt, member, int(number))
    tell(
        session,
        rt,
        member,
        _(
            "Account {number} is switched off. Cases it held that went back to the pool: {count}."
        ).format(number=members.number(target), count=len(returned)),
    )
