"""Issue 15, point 3: invites outlived their maker. Now a supervisor's invite works only
while its maker may still make it, switching a member off ends their pending invites, and
pending invites can be listed and revoked (by a supervisor inside their area, or the CLI)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from bot.app import App
from bot.cli import main as cli_main
from bot.config import Settings
from bot.db.models import AuditEntry, Invite, Member
from bot.domain import Role
from bot.services.organisation import invites, members
from fake_telegram import FakeBotAPI, TgUser
from tests.queue_helpers import (
    Places,
    join,
    member_of,
    payload,
    seed_places,
    settings,  # noqa: F401 - faster per-chat sending
)


async def _invite(app: App, by: Member, role: str, scope: members.Scope) -> tuple[int, str]:
    async with app.sessionmaker() as session, session.begin():
        maker = await session.get(Member, by.id)
        created = await invites.create_invite(session, app.rt, role, scope, by=maker)
    token = invites.token_of(payload(created.link))
    assert token is not None
    return created.invite_id, token


async def _redeem(app: App, token: str, user_id: int) -> Member:
    async with app.sessionmaker() as session, session.begin():
        return await invites.redeem(
            session, app.rt, token, telegram_user_id=user_id, chat_id=user_id, language_code="ru"
        )


async def _supervisors(app: App, api: FakeBotAPI) -> tuple[Places, Member, Member]:
    places = await seed_places(app)
    region = await join(
        app, api, TgUser(7601, "R", language_code="ru"), Role.SUPERVISOR, region=places.region
    )
    lenin = await join(
        app, api, TgUser(7602, "L", language_code="ru"), Role.SUPERVISOR, district=places.lenin
    )
    return places, region, lenin


async def test_an_invite_stops_working_when_its_maker_may_no_longer_invite(
    app: App, fake_api: FakeBotAPI
) -> None:
    places, _region, lenin = await _supervisors(app, fake_api)
    scope = members.Scope(places.region, places.lenin)
    _id, token = await _invite(app, lenin, Role.PSYCHOLOGIST, scope)
    async with app.sessionmaker() as session, session.begin():
        maker = await session.get(Member, lenin.id)
        assert maker is not None
        maker.active = False  # switched off by hand, past deactivate()
    with pytest.raises(invites.InviteInvalid):
        await _redeem(app, token, 7650)
    async with app.sessionmaker() as session:
        assert await session.scalar(select(Member).where(Member.role == Role.PSYCHOLOGIST)) is None


async def test_switching_a_supervisor_off_ends_their_pending_invites(
    app: App, fake_api: FakeBotAPI
) -> None:
    places, region, lenin = await _supervisors(app, fake_api)
    scope = members.Scope(places.region, places.lenin)
    first, token = await _invite(app, lenin, Role.PSYCHOLOGIST, scope)
    second, _ = await _invite(
        app, lenin, Role.STAFF, members.Scope(places.region, places.lenin, places.school)
    )
    kept, kept_token = await _invite(app, region, Role.PSYCHOLOGIST, scope)
    async with app.sessionmaker() as session, session.begin():
        await members.deactivate(session, app.rt, None, lenin.id)
    async with app.sessionmaker() as session:
        pending = await invites.pending_invites(session, app.rt, None)
        assert [i.id for i in pending] == [kept]
        events = (await session.scalars(select(AuditEntry.event))).all()
        assert "invites_cancelled" in events
    with pytest.raises(invites.InviteInvalid):
        await _redeem(app, token, 7651)
    assert (await _redeem(app, kept_token, 7652)).role == Role.PSYCHOLOGIST
    assert first != second


async def test_supervisors_list_and_revoke_only_inside_their_area(
    app: App, fake_api: FakeBotAPI
) -> None:
    places, region, lenin = await _supervisors(app, fake_api)
    in_lenin, lenin_token = await _invite(
        app, region, Role.PSYCHOLOGIST, members.Scope(places.region, places.lenin)
    )
    in_oktyabr, _ = await _invite(
        app, region, Role.PSYCHOLOGIST, members.Scope(places.region, places.oktyabr)
    )
    async with app.sessionmaker() as session:
        assert [i.id for i in await invites.pending_invites(session, app.rt, lenin)] == [in_lenin]
        assert [i.id for i in await invites.pending_invites(session, app.rt, region)] == [
            in_lenin,
            in_oktyabr,
        ]
    async with app.sessionmaker() as session, session.begin():
        with pytest.raises(invites.InviteNotFound):
            await invites.revoke(session, app.rt, lenin, in_oktyabr)
    async with app.sessionmaker() as session, session.begin():
        await invites.revoke(session, app.rt, lenin, in_lenin)
    async with app.sessionmaker() as session, session.begin():
        with pytest.raises(invites.InviteNotFound):  # twice: it is no longer pending
            await invites.revoke(session, app.rt, lenin, in_lenin)
    with pytest.raises(invites.InviteInvalid):
        await _redeem(app, lenin_token, 7653)
    async with app.sessionmaker() as session:
        assert [i.id for i in await invites.pending_invites(session, app.rt, region)] == [
            in_oktyabr
        ]
        assert "invite_revoked" in (await session.scalars(select(AuditEntry.event))).all()


async def test_cli_lists_and_revokes_invites(
    app: App,
    fake_api: FakeBotAPI,
    settings: Settings,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    places, region, _lenin = await _supervisors(app, fake_api)
    number, token = await _invite(
        app, region, Role.PSYCHOLOGIST, members.Scope(places.region, places.lenin)
    )
    monkeypatch.setenv("TRUSTLINE_DATABASE_URL", settings.database_url)
    assert settings.master_key is not None
    monkeypatch.setenv("TRUSTLINE_MASTER_KEY", settings.master_key.get_secret_value())
    monkeypatch.setenv("TRUSTLINE_BOT_USERNAME", "trustline_test_bot")
    capsys.readouterr()
    assert await asyncio.to_thread(cli_main, ["invite", "list"]) == 0
    listed = capsys.readouterr().out
    row = next(line for line in listed.splitlines() if line.startswith(f"{number}\t"))
    assert "psychologist" in row and "Ленинский район" in row and f"№{region.id}" in row
    assert token not in listed
    assert await asyncio.to_thread(cli_main, ["invite", "revoke", str(number)]) == 0
    assert "revoked" in capsys.readouterr().out
    assert await asyncio.to_thread(cli_main, ["invite", "revoke", str(number)]) == 1
    assert await asyncio.to_thread(cli_main, ["invite", "list"]) == 0
    assert "No pending invites" in capsys.readouterr().out
    with pytest.raises(invites.InviteInvalid):
        await _redeem(app, token, 7654)
    async with app.sessionmaker() as session:
        stored = await session.get(Invite, number)
        assert stored is not None and stored.used_at is None
    assert await member_of(app, TgUser(7654, "x")) is None
