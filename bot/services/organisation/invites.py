"""One-time invite links: how a Telegram account becomes a member.

Only an HMAC of the token is stored, so a database dump holds no usable link. An invite
expires after `invite_ttl_hours` and is spent by a conditional UPDATE: of two accounts
opening the same link at once, exactly one becomes a member.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Invite, Member
from bot.domain import Role
from bot.i18n import language_from_telegram
from bot.services.errors import ServiceError
from bot.services.organisation import members
from bot.services.organisation.members import Scope
from bot.services.runtime import Runtime
from bot.services.security import audit

PREFIX = "join_"
TOKEN_BYTES = 24  # 32 URL-safe characters; a start payload may hold 64


class InviteInvalid(ServiceError):
    """Unknown, expired or already used: the three are told apart to nobody."""


class InviteNotFound(ServiceError):
    """No pending invite with that number inside the caller's scope."""


class NeedsConfirmation(ServiceError):
    """A supervisor's psychologist invite needs a second supervisor (confirm_invite)."""


class AlreadyMember(ServiceError):
    """This Telegram account is already an active member; the invite stays unused."""


@dataclass(frozen=True, slots=True)
class CreatedInvite:
    invite_id: int
    link: str
    role: str
    scope: Scope
    hours: int


def link(rt: Runtime, token: str) -> str:
    return f"https://t.me/{rt.bot_username}?start={PREFIX}{token}"


def token_of(start_payload: str) -> str | None:
    payload = start_payload.strip()
    if not payload.startswith(PREFIX):
        return None
    token = payload.removeprefix(PREFIX)
    return token if 16 <= len(token) <= 59 else None


async def create_invite(
    session: AsyncSession, rt: Runtime, role: str, scope: Scope, *, by: Member | None
) -> CreatedInvite:
    """A one-time link for `role` at `scope`. A supervisor (`by`) invites psychologists and
    staff inside their own scope; the CLI (`by=None`) invites anyone anywhere."""
    members.check_role_level(role, scope)
    if by is not None and (role == Role.SUPERVISOR or not members.manages(by, scope)):
        raise members.OutOfScope(role)
    if by is not None and role == Role.PSYCHOLOGIST:
        raise NeedsConfirmation(role)  # request_psychologist_invite, then confirm_invite
    now = rt.now()
    token = secrets.token_urlsafe(TOKEN_BYTES)
    hours = rt.settings.invite_ttl_hours
    invite = Invite(
        token_hash=rt.vault.pseudonyms.invite_hash(token),
        role=role,
        region_id=scope.region_id,
        district_id=scope.district_id,
        school_id=scope.school_id,
        created_by=by.id if by is not None else None,
        created_at=now,
        expires_at=now + timedelta(hours=hours),
    )
    session.add(invite)
    await session.flush()
    await audit.record(
        session,
        actor=audit.member_actor(by) if by is not None else "cli",
        event="invite_created",
        now=now,
        detail={"invite": invite.id, "role": role, "level": scope.level},
    )
    return CreatedInvite(invite.id, link(rt, token), role, scope, hours)


async def redeem(
    session: AsyncSession,
    rt: Runtime,
    token: str,
    *,
    telegram_user_id: int,
    chat_id: int,
    language_code: str | None,
) -> Member:
    """Register the account that opened the link in the invite's role and scope.

    A deactivated member who gets a new invite is switched back on with the new role.
    """
    now = rt.now()
    pseudonym = rt.vault.pseudonyms.member_id(telegram_user_id)
    member = await session.scalar(select(Member).where(Member.pseudonym == pseudonym))
    if member is not None and member.active:
        raise AlreadyMember(str(member.id))
    token_hash = rt.vault.pseudonyms.invite_hash(token)
    spent = await session.execute(
        update(Invite)
        .where(Invite.token_hash == token_hash, Invite.used_at.is_(None), Invite.expires_at > now)
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        raise InviteInvalid()
    invite = await session.scalar(select(Invite).where(Invite.token_hash == token_hash))
    assert invite is not None
    scope = Scope(invite.region_id or 0, invite.district_id, invite.school_id)
    if invite.created_by is not None:
        # A supervisor's invite lives only as long as their right to make it: switched off
        # or moved out of the place, their pending links stop working.
        maker = await session.get(Member, invite.created_by)
        if maker is None or not members.manages(maker, scope):
            raise InviteInvalid()
    language = language_from_telegram(language_code) or "ru"
    event = "member_reactivated"
    if member is None:
        event = "member_joined"
        member = Member(
            pseudonym=pseudonym, role=invite.role, language=language, active=True, created_at=now
        )
        rt.vault.new_member_key(member)
    member.role = invite.role
    member.active = True
    member.active_case_id = None
    members.apply_scope(member, scope)
    member.chat_id_enc = rt.vault.seal_for_member(member, "member", "chat_id", str(chat_id))
    session.add(member)
    await session.flush()
    invite.used_by = member.id
    await audit.record(
        session,
        actor=audit.member_actor(member),
        event=event,
        now=now,
        detail={"invite": invite.id, "role": member.role, "level": scope.level},
    )
    return member


def _pending(now: datetime) -> ColumnElement[bool]:
    return and_(Invite.used_at.is_(None), Invite.expires_at > now)


async def pending_invites(
    session: AsyncSession, rt: Runtime, supervisor: Member | None
) -> list[Invite]:
    """Invites not used and not expired, oldest first: every one for the CLI, those inside
    a supervisor's own scope for a supervisor."""
    found = (
        await session.scalars(select(Invite).where(_pending(rt.now())).order_by(Invite.id))
    ).all()
    return [
        invite
        for invite in found
        if supervisor is None or members.manages(supervisor, scope_of_invite(invite))
    ]


def scope_of_invite(invite: Invite) -> Scope:
    return Scope(invite.region_id or 0, invite.district_id, invite.school_id)


async def revoke(
    session: AsyncSession, rt: Runtime, supervisor: Member | None, invite_id: int
) -> Invite:
    """Make a pending invite unusable at once. Outside the supervisor's scope, used or
    expired: as if it did not exist."""
    now = rt.now()
    invite = await session.get(Invite, invite_id, with_for_update=True)
    if (
        invite is None
        or invite.used_at is not None
        or invite.expires_at <= now
        or not members.manages(supervisor, scope_of_invite(invite))
    ):
        raise InviteNotFound(str(invite_id))
    invite.expires_at = now
    await audit.record(
        session,
        actor=audit.member_actor(supervisor) if supervisor is not None else "cli",
        event="invite_revoked",
        now=now,
        detail={"invite": invite.id, "role": invite.role},
    )
    return invite


async def cancel_invites_of(session: AsyncSession, maker: Member, now: datetime) -> int:
    """End every pending invite `maker` made (they are being switched off); how many."""
    ended = await session.execute(
        update(Invite)
        .where(Invite.created_by == maker.id, _pending(now))
        .values(expires_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(ended.rowcount or 0)  # type: ignore[attr-defined]


# --- a psychologist invite made in the bot: confirmed by a second supervisor -------------
#
# A psychologist reads children's cases, so one supervisor alone (whose account may be
# misused) cannot let one in from the bot. The request is an invite row that cannot be
# redeemed yet (it expires the moment it is made, and its token was never shown); another
# active supervisor of the place confirms it, and only then is a link made and sent to the
# supervisor who asked. Where no second supervisor serves the place, the bot says so and
# the operator makes the invite with `trustline invite psychologist` (see the README).


class NoSecondSupervisor(ServiceError):
    """Nobody but the asking supervisor could confirm a psychologist invite for the place."""


async def confirmers(session: AsyncSession, maker: Member, scope: Scope) -> list[Member]:
    """Active supervisors other than `maker` who manage `scope`."""
    found = (
        await session.scalars(
            select(Member)
            .where(
                Member.role == Role.SUPERVISOR,
                Member.active.is_(True),
                Member.id != maker.id,
                Member.region_id == scope.region_id,
            )
            .order_by(Member.id)
        )
    ).all()
    return [m for m in found if members.manages(m, scope)]


def awaits_confirmation(invite: Invite) -> bool:
    return invite.used_at is None and invite.expires_at == invite.created_at


async def request_psychologist_invite(
    session: AsyncSession, rt: Runtime, scope: Scope, *, by: Member
) -> tuple[Invite, list[Member]]:
    """A psychologist invite that waits for a second supervisor, and who may confirm it."""
    members.check_role_level(Role.PSYCHOLOGIST, scope)
    if not members.manages(by, scope):
        raise members.OutOfScope(Role.PSYCHOLOGIST)
    others = await confirmers(session, by, scope)
    if not others:
        raise NoSecondSupervisor(Role.PSYCHOLOGIST)
    now = rt.now()
    invite = Invite(
        token_hash=rt.vault.pseudonyms.invite_hash(secrets.token_urlsafe(TOKEN_BYTES)),
        role=Role.PSYCHOLOGIST,
        region_id=scope.region_id,
        district_id=scope.district_id,
        school_id=scope.school_id,
        created_by=by.id,
        created_at=now,
        expires_at=now,  # not redeemable until confirmed
    )
    session.add(invite)
    await session.flush()
    await audit.record(
        session,
        actor=audit.member_actor(by),
        event="invite_requested",
        now=now,
        detail={"invite": invite.id, "role": invite.role, "level": scope.level},
    )
    return invite, others


async def confirm_invite(
    session: AsyncSession, rt: Runtime, confirmer: Member, invite_id: int
) -> tuple[CreatedInvite, Member]:
    """A second supervisor's yes: the link is made now (for the supervisor who asked, who
    is returned with it). Stale, already confirmed, one's own, or outside the confirmer's
    area: as if it did not exist."""
    now = rt.now()
    invite = await session.get(Invite, invite_id, with_for_update=True)
    if invite is None or not awaits_confirmation(invite) or invite.created_by is None:
        raise InviteNotFound(str(invite_id))
    scope = scope_of_invite(invite)
    hours = rt.settings.invite_ttl_hours
    maker = await session.get(Member, invite.created_by)
    if (
        invite.created_by == confirmer.id
        or invite.created_at + timedelta(hours=hours) <= now
        or not members.manages(confirmer, scope)
        or maker is None
        or not members.manages(maker, scope)
    ):
        raise InviteNotFound(str(invite_id))
    token = secrets.token_urlsafe(TOKEN_BYTES)
    invite.token_hash = rt.vault.pseudonyms.invite_hash(token)
    invite.expires_at = now + timedelta(hours=hours)
    await audit.record(
        session,
        actor=audit.member_actor(confirmer),
        event="invite_confirmed",
        now=now,
        detail={"invite": invite.id, "role": invite.role, "maker": maker.id},
    )
    return CreatedInvite(invite.id, link(rt, token), invite.role, scope, hours), maker
