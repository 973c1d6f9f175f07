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
    command,
    join,
    member_of,
    next_to,
    payload,
    seed_places,
    settings,  # noqa: F401 - faster per-chat sending
)


async def _invite(
    app: App, by: Member, role: str, scope: members.Scope, confirmer: Member | None = None
) -> tuple[int, str]:
    """A supervisor's invite; a psychologist's is requested by `by`, confirmed by `confirmer`."""
    async with app.sessionmaker() as session, session.begin():
        maker = await session.get(Member, by.id)
        assert maker is not None
        if role != Role.PSYCHOLOGIST:
            created = await invites.create_invite(session, app.rt, role, scope, by=maker)
        else:
            assert confirmer is not None
            request, others = await invites.request_psychologist_invite(
                session, app.rt, scope, by=maker
            )
            assert confirmer.id in [m.id for m in others]
            second = await session.get(Member, confirmer.id)
            assert second is not None
            created, _maker = await invites.confirm_invite(session, app.rt, second, request.id)
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
    _id, token = await _invite(app, lenin, Role.PSYCHOLOGIST, scope, _region)
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
    first, token = await _invite(app, lenin, Role.PSYCHOLOGIST, scope, region)
    second, _ = await _invite(
        app, lenin, Role.STAFF, members.Scope(places.region, places.lenin, places.school)
    )
    kept, kept_token = await _invite(app, region, Role.PSYCHOLOGIST, scope, lenin)
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
        app, region, Role.PSYCHOLOGIST, members.Scope(places.region, places.lenin), lenin
    )
    in_oktyabr, _ = await _invite(
        app,
        region,
        Role.STAFF,
        members.Scope(places.region, places.oktyabr, places.school_oktyabr),
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
    places, region, lenin = await _supervisors(app, fake_api)
    number, token = await _invite(
        app, region, Role.PSYCHOLOGIST, members.Scope(places.region, places.lenin), lenin
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


async def test_a_psychologist_invite_made_in_the_bot_needs_a_second_supervisor(
    app: App, fake_api: FakeBotAPI
) -> None:
    places, region, lenin = await _supervisors(app, fake_api)
    oktyabr = members.Scope(places.region, places.oktyabr)
    async with app.sessionmaker() as session, session.begin():
        maker = await session.get(Member, region.id)
        assert maker is not None
        with pytest.raises(invites.NeedsConfirmation):  # no link from one supervisor alone
            await invites.create_invite(
                session, app.rt, Role.PSYCHOLOGIST, members.Scope(places.region), by=maker
            )
        with pytest.raises(invites.NoSecondSupervisor):  # nobody else serves Октябрьский
            await invites.request_psychologist_invite(session, app.rt, oktyabr, by=maker)
        request, others = await invites.request_psychologist_invite(
            session, app.rt, members.Scope(places.region, places.lenin), by=maker
        )
        assert [m.id for m in others] == [lenin.id]
        request_id = request.id
    async with app.sessionmaker() as session:
        assert await invites.pending_invites(session, app.rt, None) == []  # not usable yet
    async with app.sessionmaker() as session, session.begin():
        maker = await session.get(Member, region.id)
        assert maker is not None
        with pytest.raises(invites.InviteNotFound):  # not by the one who asked
            await invites.confirm_invite(session, app.rt, maker, request_id)
    async with app.sessionmaker() as session, session.begin():
        second = await session.get(Member, lenin.id)
        assert second is not None
        created, asked = await invites.confirm_invite(session, app.rt, second, request_id)
        assert asked.id == region.id and created.invite_id == request_id
    async with app.sessionmaker() as session, session.begin():
        second = await session.get(Member, lenin.id)
        assert second is not None
        with pytest.raises(invites.InviteNotFound):  # once only: no second link
            await invites.confirm_invite(session, app.rt, second, request_id)
    token = invites.token_of(payload(created.link))
    assert token is not None
    joined = await _redeem(app, token, 7655)
    assert (joined.role, joined.district_id) == (Role.PSYCHOLOGIST, places.lenin)
    async with app.sessionmaker() as session:
        events = (await session.scalars(select(AuditEntry.event))).all()
        assert {"invite_requested", "invite_confirmed", "member_joined"} <= set(events)


async def test_confirm_button_and_invites_list_in_the_bot(app: App, fake_api: FakeBotAPI) -> None:
    places = await seed_places(app)
    boss_user, second_user = (
        TgUser(7611, "B", language_code="ru"),
        TgUser(7612, "S", language_code="ru"),
    )
    boss = await join(app, fake_api, boss_user, Role.SUPERVISOR, region=places.region)
    await join(app, fake_api, second_user, Role.SUPERVISOR, district=places.lenin)
    start = len(fake_api.calls)
    fake_api.callback_query(boss_user, f"inv:p:d:{places.lenin}")
    await next_to(fake_api, boss_user.id, start, "Ленинский район")
    ask = await next_to(fake_api, second_user.id, start, f"№{boss.id}")
    assert "https://t.me/" not in (ask.text or "")
    async with app.sessionmaker() as session:
        request = (await session.scalars(select(Invite).order_by(Invite.id.desc()))).first()
        assert request is not None and invites.awaits_confirmation(request)
    start = len(fake_api.calls)
    fake_api.callback_query(boss_user, f"invok:{request.id}")  # the asker's own forged press
    await next_to(fake_api, boss_user.id, start)
    assert not [c for c in fake_api.calls[start:] if "https://t.me/" in (c.text or "")]
    fake_api.callback_query(second_user, f"invok:{request.id}")
    sent = await next_to(fake_api, boss_user.id, start, "https://t.me/")
    await next_to(fake_api, second_user.id, start, f"№{boss.id}")
    assert not [
        c
        for c in fake_api.calls[start:]
        if c.chat_id == second_user.id and "https://t.me/" in (c.text or "")
    ]
    link = (sent.text or "").split("\n")[-1]

    start = len(fake_api.calls)
    command(fake_api, boss_user, "/invites")
    listing = await next_to(fake_api, boss_user.id, start, "Ленинский район")
    assert f"invrm:{request.id}" in str(listing.params.get("reply_markup"))
    assert link not in (listing.text or "")
    start = len(fake_api.calls)
    fake_api.callback_query(boss_user, f"invrm:{request.id}")
    await next_to(fake_api, boss_user.id, start, str(request.id))
    with pytest.raises(invites.InviteInvalid):
        await _redeem(app, payload(link).removeprefix("join_"), 7656)
