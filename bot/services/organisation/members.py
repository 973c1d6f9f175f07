"""Members (supervisors, psychologists, school staff): scopes, listing, deactivation.

A member is known by a keyed pseudonym of their Telegram id, a role, a place (their scope)
and a short number (their row id) — never by name. Supervisors manage the members inside
their own scope; the CLI manages everyone.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import District, Member, Region, School
from bot.delivery import menus, notices
from bot.delivery.notices import Chat, Notice, Text
from bot.domain import Role
from bot.services.errors import InvalidInput, NotAllowed, NotFound
from bot.services.runtime import Runtime
from bot.services.security import audit


class MemberNotFound(NotFound):
    """No member with that number inside the caller's scope."""


class OutOfScope(NotAllowed):
    """A place or a member outside the supervisor's own region or district."""


class RoleNotAllowed(InvalidInput):
    """A role at a level it cannot work at (e.g. staff for a whole region)."""


@dataclass(frozen=True, slots=True)
class Scope:
    """A place at one level; the parents are filled in so scopes can be compared."""

    region_id: int
    district_id: int | None = None
    school_id: int | None = None

    @property
    def level(self) -> str:
        if self.school_id is not None:
            return "school"
        return "district" if self.district_id is not None else "region"

    def contains(self, other: Scope) -> bool:
        if self.school_id is not None:
            return other.school_id == self.school_id
        if self.district_id is not None:
            return other.district_id == self.district_id
        return other.region_id == self.region_id


# Which levels each role may be bound to.
ROLE_LEVELS: dict[str, tuple[str, ...]] = {
    Role.SUPERVISOR: ("region", "district"),
    Role.PSYCHOLOGIST: ("region", "district"),
    Role.STAFF: ("school",),
}


def check_role_level(role: str, scope: Scope) -> None:
    if role not in ROLE_LEVELS:
        raise RoleNotAllowed(f"unknown role {role!r}; use supervisor, psychologist or staff")
    if scope.level not in ROLE_LEVELS[role]:
        allowed = " or ".join(f"--{level}" for level in ROLE_LEVELS[role])
        raise RoleNotAllowed(f"a {role} is bound to a {allowed.replace('--', '')}; use {allowed}")


async def scope_of(
    session: AsyncSession,
    *,
    region_id: int | None = None,
    district_id: int | None = None,
    school_id: int | None = None,
) -> Scope:
    """The scope of one place, with its parents looked up."""
    if school_id is not None:
        school = await session.get(School, school_id)
        if school is None:
            raise NotFound("school")
        district = await session.get(District, school.district_id)
        assert district is not None
        return Scope(district.region_id, district.id, school.id)
    if district_id is not None:
        district = await session.get(District, district_id)
        if district is None:
            raise NotFound("district")
        return Scope(district.region_id, district.id)
    if region_id is not None:
        if await session.get(Region, region_id) is None:
            raise NotFound("region")
        return Scope(region_id)
    raise InvalidInput("a scope needs a region, a district or a school")


def scope_of_member(member: Member) -> Scope | None:
    if member.region_id is None:
        return None  # a country-wide account (none are created by invites)
    return Scope(member.region_id, member.district_id, member.school_id)


def apply_scope(member: Member, scope: Scope) -> None:
    member.region_id = scope.region_id
    member.district_id = scope.district_id
    member.school_id = scope.school_id


def manages(supervisor: Member | None, target: Scope) -> bool:
    """Whether `supervisor` (None: the CLI) may invite to or manage `target`."""
    if supervisor is None:
        return True
    if supervisor.role != Role.SUPERVISOR or not supervisor.active:
        return False
    own = scope_of_member(supervisor)
    return own is None or own.contains(target)


async def place_label(session: AsyncSession, scope: Scope | None) -> str:
    """ "Region / District / School" in the names the organisation file gave them."""
    if scope is None:
        return "—"
    parts: list[str] = []
    region = await session.get(Region, scope.region_id)
    parts.append(region.name if region else "?")
    if scope.district_id is not None:
        district = await session.get(District, scope.district_id)
        parts.append(district.name if district else "?")
    if scope.school_id is not None:
        school = await session.get(School, scope.school_id)
        parts.append(school.name if school else "?")
    return " / ".join(parts)


def number(member: Member) -> str:
    return f"№{member.id}"


async def members_in_scope(
    session: AsyncSession, supervisor: Member | None, *, include_inactive: bool = False
) -> list[Member]:
    """Members a supervisor manages (themselves included), by role then number."""
    query = select(Member).order_by(Member.role, Member.id)
    if not include_inactive:
        query = query.where(Member.active.is_(True))
    own = scope_of_member(supervisor) if supervisor is not None else None
    if own is not None:
        if own.district_id is not None:
            query = query.where(Member.district_id == own.district_id)
        else:
            query = query.where(Member.region_id == own.region_id)
    return list((await session.scalars(query)).all())


async def deactivate(
    session: AsyncSession, rt: Runtime, supervisor: Member | None, member_id: int
) -> tuple[Member, list[str]]:
    """Switch an account off and tell its owner. The cases it held go back to their pools
    at once (their codes are returned), so no child waits for someone who has left."""
    target = await session.get(Member, member_id, with_for_update=True)
    if target is None or not target.active:
        raise MemberNotFound(str(member_id))
    target_scope = scope_of_member(target)
    if supervisor is not None:
        if target.id == supervisor.id:
            raise NotAllowed("a supervisor cannot switch off their own account")
        if (
            target.role == Role.SUPERVISOR
            or target_scope is None
            or not manages(supervisor, target_scope)
        ):
            raise MemberNotFound(str(member_id))  # outside the scope: as if it did not exist
    # The queue (with the cards' buttons, aiogram's CallbackData) only where cases go back
    # to it: `trustline members list` imports this module and never speaks to Telegram.
    from bot.services.routing import queue

    now = rt.now()
    target.active = False
    target.active_case_id = None
    actor = audit.member_actor(supervisor) if supervisor is not None else "cli"
    await audit.record(
        session,
        actor=actor,
        event="member_deactivated",
        now=now,
        detail={"member": target.id, "role": target.role},
    )
    returned = await queue.return_cases_of(session, rt, target, actor=actor)
    from bot.services.organisation import invites  # noqa: PLC0415 - invites imports members

    cancelled = await invites.cancel_invites_of(session, target, now)
    if cancelled:
        await audit.record(
            session,
            actor=actor,
            event="invites_cancelled",
            now=now,
            detail={"member": target.id, "count": cancelled},
        )
    # To their chat, not their account: rows for a switched-off account are dropped unsent.
    notices.send(
        session,
        rt,
        Notice(
            Chat(rt.vault.member_chat_id(target)),
            Text("Your TrustLine account has been switched off."),
            lang=target.language,
        ),
        now=now,
    )
    menus.queue_menu_reset(session, rt, target, now=now)  # back to the student's menu
    return target, returned
