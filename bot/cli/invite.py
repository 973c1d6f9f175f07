"""`trustline invite ROLE --region R | --district D | --school S`, `trustline invite list`,
`trustline invite revoke ID`, and `trustline members`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from bot.cli.common import bot_username, check_ready, cli_runtime, load_settings
from bot.cli.wording import a_role, counted
from bot.domain import Role
from bot.services.errors import ServiceError

# The services (SQLAlchemy, the models) are imported in the command functions: building the
# CLI's parser imports this module (bot/cli/__init__.py).


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "invite",
        help="print a one-time invite link for a supervisor, psychologist or staff",
    )
    parser.add_argument(
        "role",
        choices=[*(r.value for r in Role), "list", "revoke"],
        help="whom to invite; or list the pending invites, or revoke one by its number",
    )
    parser.add_argument("number", nargs="?", type=int, help="the invite to revoke")
    place = parser.add_mutually_exclusive_group()
    place.add_argument("--region", metavar="R", help="region name (or KG/Name, or its id)")
    place.add_argument(
        "--district", metavar="D", help="district name (or Region/District, or its id)"
    )
    place.add_argument("--school", metavar="S", help="school name (or District/School, or its id)")
    parser.set_defaults(func=cmd_invite)

    listing = subparsers.add_parser("members", help="list or switch off member accounts")
    sub = listing.add_subparsers(dest="members_command", required=True)
    sub.add_parser("list", help="every account: number, role, place").set_defaults(func=cmd_list)
    off = sub.add_parser("deactivate", help="switch an account off; its cases return to the pool")
    off.add_argument("number", type=int)
    off.set_defaults(func=cmd_deactivate)


def cmd_invite(args: argparse.Namespace) -> int:
    if args.role == "list":
        return cmd_invite_list()
    if args.role == "revoke":
        if args.number is None:
            print("trustline: which invite? trustline invite revoke ID", file=sys.stderr)
            return 2
        return cmd_invite_revoke(args.number)
    if not (args.school or args.district or args.region):
        print("trustline: say where: --region, --district or --school", file=sys.stderr)
        return 2
    return _make_invite(args)


def cmd_invite_list() -> int:
    from bot.services.organisation import invites, members

    async def go() -> list[str]:
        async with cli_runtime(load_settings()) as (rt, session):
            lines = []
            for invite in await invites.pending_invites(session, rt, None):
                place = await members.place_label(session, invites.scope_of_invite(invite))
                maker = f"№{invite.created_by}" if invite.created_by is not None else "cli"
                expires = invite.expires_at.strftime("%Y-%m-%d %H:%M UTC")
                lines.append(f"{invite.id}\t{invite.role}\t{place}\tby {maker}\tuntil {expires}")
            return lines

    lines = asyncio.run(go())
    print("\n".join(lines) if lines else "No pending invites.")
    return 0


def cmd_invite_revoke(number: int) -> int:
    from bot.services.organisation import invites

    async def go() -> str:
        async with cli_runtime(load_settings()) as (rt, session):
            invite = await invites.revoke(session, rt, None, number)
            return invite.role

    try:
        role = asyncio.run(go())
    except ServiceError:
        print(f"trustline: there is no pending invite {number}.", file=sys.stderr)
        return 1
    print(f"Invite {number} ({role}) is revoked: its link no longer works.")
    return 0


def _make_invite(args: argparse.Namespace) -> int:
    from bot.services.organisation import invites, members, org

    async def go() -> tuple[invites.CreatedInvite, str]:
        settings = load_settings()
        await check_ready(settings)  # before Telegram is asked, and before any write
        # The link must open this bot: its @name from TRUSTLINE_BOT_USERNAME or getMe, or
        # no invite at all (a made-up default name would be someone else's bot).
        name = await bot_username(settings)
        async with cli_runtime(settings, bot_name=name, checked=True) as (rt, session):
            if args.school:
                school = await org.find_school(session, args.school)
                scope = await members.scope_of(session, school_id=school.id)
            elif args.district:
                district = await org.find_district(session, args.district)
                scope = await members.scope_of(session, district_id=district.id)
            else:
                region = await org.find_region(session, args.region)
                scope = await members.scope_of(session, region_id=region.id)
            created = await invites.create_invite(session, rt, args.role, scope, by=None)
            return created, await members.place_label(session, scope)

    try:
        created, place = asyncio.run(go())
    except ServiceError as exc:
        print(f"trustline: {exc}", file=sys.stderr)
        return 1
    print(
        f"One-time invite for {a_role(created.role)} of {place}, valid "
        f"{counted(created.hours, 'hour')}, "
        f"works once. Send it privately:"
    )
    print(created.link)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from bot.services.organisation import members

    async def go() -> list[str]:
        async with cli_runtime(load_settings()) as (_rt, session):
            lines = []
            for member in await members.members_in_scope(session, None, include_inactive=True):
                place = await members.place_label(session, members.scope_of_member(member))
                state = "active" if member.active else "switched off"
                lines.append(f"{members.number(member)}\t{member.role}\t{place}\t{state}")
            return lines

    lines = asyncio.run(go())
    print("\n".join(lines) if lines else "No member accounts yet: trustline invite ...")
    return 0


def cmd_deactivate(args: argparse.Namespace) -> int:
    from bot.services.organisation import members

    async def go() -> tuple[str, int]:
        async with cli_runtime(load_settings()) as (rt, session):
            target, returned = await members.deactivate(session, rt, None, args.number)
            return members.number(target), len(returned)

    try:
        number, count = asyncio.run(go())
    except ServiceError:
        print(f"trustline: there is no active account №{args.number}.", file=sys.stderr)
        return 1
    went = f"{count} of its cases went" if count != 1 else "its one case went"
    print(f"Account {number} switched off; {went} back to the pool.")
    return 0
