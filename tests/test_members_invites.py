"""Invites and members: one-time links from the CLI and from a supervisor's buttons, the
listing without names, switching accounts off, and links that expire or were used."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from bot.app import App
from bot.cli import main as cli_main
from bot.config import Settings
from bot.db.models import AuditEntry, Case, Invite, Member
from bot.domain import CaseStatus, Role
from bot.services.organisation import invites, members, org
from bot.services.security import audit
from fake_telegram import FakeBotAPI, TgUser
from tests.conftest import FakeClock
from tests.queue_helpers import (
    answered_callback,
    command,
    invite_link,
    join,
    member_of,
    next_to,
    payload,
    seed_places,
    settings,  # noqa: F401 - faster per-chat sending
    student_opens_case,
    take,
)

INVITE_INVALID = (
    "This invite link does not work: it has expired or has already been used. "
    "Ask your supervisor for a new one."
)


async def test_cli_invite_link_registers_a_supervisor_once(
    app: App,
    fake_api: FakeBotAPI,
    settings: Settings,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    places = await seed_places(app)
    monkeypatch.setenv("TRUSTLINE_DATABASE_URL", settings.database_url)
    assert settings.master_key is not None
    monkeypatch.setenv("TRUSTLINE_MASTER_KEY", settings.master_key.get_secret_value())
    monkeypatch.setenv("TRUSTLINE_BOT_USERNAME", "trustline_test_bot")
    code = await asyncio.to_thread(cli_main, ["invite", "supervisor", "--region", "Бишкек"])
    out = capsys.readouterr().out
    assert code == 0
    link = next(line for line in out.splitlines() if line.startswith("https://"))
    assert link.startswith("https://t.me/trustline_test_bot?start=join_")
    token = link.split("join_", 1)[1]
    async with app.sessionmaker() as session:
        stored = (await session.scalars(select(Invite))).all()
        assert len(stored) == 1 and token.encode() not in stored[0].token_hash
        assert stored[0].token_hash == app.rt.vault.pseudonyms.invite_hash(token)

    boss = TgUser(7101, "Gulnara", username="gulnara_boss", language_code="ky")
    start = len(fake_api.calls)
    fake_api.start(boss, payload(link))
    welcome = await next_to(fake_api, boss.id, start, "Бишкек")
    member = await member_of(app, boss)
    assert member is not None and member.active and member.role == Role.SUPERVISOR
    assert (member.region_id, member.district_id, member.school_id) == (places.region, None, None)
    assert member.language == "ky"
    assert app.rt.vault.member_chat_id(member) == boss.id
    assert f"№{member.id}" in (welcome.text or "")
    assert "Gulnara" not in (welcome.text or "")

    # The same link, opened by someone else, no longer works; nobody is registered.
    other = TgUser(7102, "Other", language_code="ru")
    start = len(fake_api.calls)
    fake_api.start(other, payload(link))
    refusal = await next_to(fake_api, other.id, start)
    assert refusal.text == app.rt.tr("ru", INVITE_INVALID)
    assert await member_of(app, other) is None
    # And the cli refuses a role at a level it cannot have.
    code = await asyncio.to_thread(cli_main, ["invite", "staff", "--region", "Бишкек"])
    assert code == 1 and "school" in capsys.readouterr().err


async def test_expired_invite_does_not_work(
    app: App, fake_api: FakeBotAPI, clock: FakeClock
) -> None:
    places = await seed_places(app)
    link = await invite_link(app, Role.PSYCHOLOGIST, district=places.lenin)
    clock.advance(hours=app.settings.invite_ttl_hours + 1)
    user = TgUser(7201, "Late", language_code="ru")
    start = len(fake_api.calls)
    fake_api.start(user, payload(link))
    refusal = await next_to(fake_api, user.id, start)
    assert refusal.text == app.rt.tr("ru", INVITE_INVALID)
    assert await member_of(app, user) is None
    # A forged token of the right shape fails the same way and does not open a case.
    fake_api.start(user, "join_" + "A" * 32)
    await fake_api.wait_for_count(lambda c: c.chat_id == user.id and c.is_send, 2, start=start)
    async with app.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Case)) == 0


async def test_concurrent_redemption_of_one_invite_has_one_winner(app: App) -> None:
    places = await seed_places(app)
    link = await invite_link(app, Role.PSYCHOLOGIST, district=places.lenin)
    token = payload(link).removeprefix("join_")

    async def redeem(user_id: int) -> bool:
        try:
            async with app.sessionmaker() as session, session.begin():
                await invites.redeem(
                    session,
                    app.rt,
                    token,
                    telegram_user_id=user_id,
                    chat_id=user_id,
                    language_code="ru",
                )
            return True
        except invites.InviteInvalid:
            return False

    results = await asyncio.gather(*(redeem(8000 + i) for i in range(10)))
    assert sum(results) == 1
    async with app.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Member)) == 1


async def test_supervisor_invites_lists_and_switches_off(app: App, fake_api: FakeBotAPI) -> None:
    places = await seed_places(app)
    boss = TgUser(7301, "Boss", language_code="ru")
    supervisor = await join(app, fake_api, boss, Role.SUPERVISOR, region=places.region)
    second = TgUser(7305, "Second", language_code="ru")
    await join(app, fake_api, second, Role.SUPERVISOR, district=places.lenin)

    # /invite → psychologist → Ленинский район: a link for that district.
    start = len(fake_api.calls)
    command(fake_api, boss, "/invite")
    await next_to(fake_api, boss.id, start)
    fake_api.callback_query(boss, "inv:p")
    await next_to(fake_api, boss.id, start, "?")
    fake_api.callback_query(boss, f"inv:p:d:{places.lenin}")
    # A psychologist's invite needs a second supervisor's yes (issue 15): the district's.
    await next_to(fake_api, second.id, start, f"№{supervisor.id}")
    async with app.sessionmaker() as session:
        request = (await session.scalars(select(Invite).order_by(Invite.id.desc()))).first()
        assert request is not None
    fake_api.callback_query(second, f"invok:{request.id}")
    sent = await next_to(fake_api, boss.id, start, "https://t.me/")
    link = (sent.text or "").split("\n")[-1]
    psy_user = TgUser(7302, "Aibek", username="aibek_psy", language_code="kk")
    start = len(fake_api.calls)
    fake_api.start(psy_user, payload(link))
    await fake_api.wait_for_count(lambda c: c.chat_id == psy_user.id and c.is_send, 2, start=start)
    psychologist = await member_of(app, psy_user)
    assert psychologist is not None and psychologist.role == Role.PSYCHOLOGIST
    assert (psychologist.region_id, psychologist.district_id) == (places.region, places.lenin)
    assert psychologist.language == "kk"

    # Staff: district → school page → school.
    start = len(fake_api.calls)
    fake_api.callback_query(boss, "inv:s")
    await next_to(fake_api, boss.id, start)
    fake_api.callback_query(boss, f"inv:s:d:{places.lenin}:0")
    await next_to(fake_api, boss.id, start + 1)
    fake_api.callback_query(boss, f"inv:s:s:{places.school}")
    sent = await next_to(fake_api, boss.id, start, "https://t.me/")
    staff_user = TgUser(7303, "Teacher", language_code="ru")
    start = len(fake_api.calls)
    fake_api.start(staff_user, payload((sent.text or "").split("\n")[-1]))
    await fake_api.wait_for_count(
        lambda c: c.chat_id == staff_user.id and c.is_send, 2, start=start
    )
    staff = await member_of(app, staff_user)
    assert staff is not None and staff.role == Role.STAFF and staff.school_id == places.school

    # /members: numbers, roles, places; no names, usernames or ids.
    start = len(fake_api.calls)
    command(fake_api, boss, "/members")
    listing = await next_to(fake_api, boss.id, start, f"№{psychologist.id}")
    text = listing.text or ""
    assert f"№{staff.id}" in text and f"№{supervisor.id}" in text and "Школа № 901" in text
    for secret in ("Aibek", "aibek_psy", "Teacher", "Boss", str(psy_user.id)):
        assert secret not in text

    # The psychologist holds a case; switching them off returns it to the pool.
    student = TgUser(7304, "Kid", language_code="ru")
    case = await student_opens_case(app, fake_api, student, "мне плохо", district=places.lenin)
    await take(app, fake_api, psy_user, case.code)
    start = len(fake_api.calls)
    command(fake_api, boss, f"/deactivate {psychologist.id}")
    await next_to(fake_api, boss.id, start, f"№{psychologist.id}")
    await next_to(fake_api, psy_user.id, start)  # they are told
    async with app.sessionmaker() as session:
        stored = await session.get(Case, case.id)
        assert stored is not None and stored.status == CaseStatus.OPEN
        assert stored.psychologist_id is None
        off = await session.get(Member, psychologist.id)
        assert off is not None and not off.active
        events = set((await session.scalars(select(AuditEntry.event))).all())
        assert {"invite_created", "member_joined", "member_deactivated", "case_released"} <= events
        assert (await audit.verify(session)).ok

    # A switched-off account gets a clear answer and reaches nobody.
    start = len(fake_api.calls)
    command(fake_api, psy_user, "/queue")
    notice = await next_to(fake_api, psy_user.id, start)
    assert notice.text and "/queue" not in notice.text
    fake_api.text_message(psy_user, "hello student")
    await fake_api.wait_for_count(lambda c: c.chat_id == psy_user.id and c.is_send, 2, start=start)
    assert not [c for c in fake_api.calls[start:] if c.chat_id == student.id]


async def test_supervisor_cannot_reach_outside_their_area(app: App, fake_api: FakeBotAPI) -> None:
    places = await seed_places(app)
    boss = TgUser(7401, "Boss", language_code="ru")
    supervisor = await join(app, fake_api, boss, Role.SUPERVISOR, district=places.lenin)
    kz_psy = await join(
        app,
        fake_api,
        TgUser(7402, "Far", language_code="kk"),
        Role.PSYCHOLOGIST,
        district=places.kz_district,
    )
    async with app.sessionmaker() as session:
        before = await session.scalar(select(func.count()).select_from(Invite))
    # Forged buttons: another country's district, the whole region above them, junk.
    for data in (
        f"inv:p:d:{places.kz_district}",
        f"inv:p:r:{places.region}",
        f"inv:s:s:{places.school_oktyabr}",
        f"inv:s:d:{places.oktyabr}:0",
        "inv:p:d:99999",
        "inv:x:y",
        "inv:p:d:1;DROP",
    ):
        start = len(fake_api.calls)
        fake_api.callback_query(boss, data)
        await answered_callback(fake_api, start)
    start = len(fake_api.calls)
    command(fake_api, boss, f"/deactivate {kz_psy.id}")
    refusal = await next_to(fake_api, boss.id, start)
    assert f"№{kz_psy.id}" not in (refusal.text or "")
    command(fake_api, boss, f"/deactivate {supervisor.id}")
    command(fake_api, boss, "/deactivate twelve")
    await fake_api.wait_for_count(lambda c: c.chat_id == boss.id and c.is_send, 3, start=start)
    async with app.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Invite)) == before
        far = await session.get(Member, kz_psy.id)
        me = await session.get(Member, supervisor.id)
        assert far is not None and far.active and me is not None and me.active
        # The service refuses a supervisor invite from a supervisor, whatever the place.
        scope = await members.scope_of(session, district_id=places.lenin)
        with pytest.raises(members.OutOfScope):
            await invites.create_invite(session, app.rt, Role.SUPERVISOR, scope, by=me)


async def test_member_language_and_already_registered(app: App, fake_api: FakeBotAPI) -> None:
    places = await seed_places(app)
    user = TgUser(7501, "Psy", language_code="ru")
    member = await join(app, fake_api, user, Role.PSYCHOLOGIST, region=places.region)
    link = await invite_link(app, Role.STAFF, school=places.school)
    start = len(fake_api.calls)
    fake_api.start(user, payload(link))
    await next_to(fake_api, user.id, start)
    async with app.sessionmaker() as session:
        invite = await session.scalar(select(Invite).order_by(Invite.id.desc()))
        assert invite is not None and invite.used_at is None  # still usable by someone else
        again = await session.get(Member, member.id)
        assert again is not None and again.role == Role.PSYCHOLOGIST
    replies: list[str] = []
    for lang in ("ky", "kk", "ru"):
        start = len(fake_api.calls)
        fake_api.callback_query(user, f"mlang:{lang}")
        replies.append((await next_to(fake_api, user.id, start)).text or "")
    assert len(set(replies)) == 3
    refreshed = await member_of(app, user)
    assert refreshed is not None and refreshed.language == "ru"


async def test_org_lookup_for_cli_invites_by_path(app: App) -> None:
    await seed_places(app)
    async with app.sessionmaker() as session:
        school = await org.find_school(session, "Ленинский район/Школа № 902")
        scope = await members.scope_of(session, school_id=school.id)
        assert scope.level == "school" and scope.district_id is not None


async def test_switched_off_member_comes_back_with_a_new_invite(
    app: App, fake_api: FakeBotAPI
) -> None:
    places = await seed_places(app)
    user = TgUser(7601, "Back", language_code="ru")
    first = await join(app, fake_api, user, Role.PSYCHOLOGIST, district=places.lenin)
    async with app.sessionmaker() as session, session.begin():
        await members.deactivate(session, app.rt, None, first.id)
    again = await join(app, fake_api, user, Role.STAFF, school=places.school)
    assert again.id == first.id and again.active
    assert (again.role, again.school_id, again.district_id) == (
        Role.STAFF,
        places.school,
        places.lenin,
    )
    async with app.sessionmaker() as session:
        events = list((await session.scalars(select(AuditEntry.event))).all())
        assert events.count("member_joined") == 1 and "member_reactivated" in events
