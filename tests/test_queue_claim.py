"""Taking a case: the queue's order, the pool's borders, and one winner among many."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.app import App
from bot.db.models import AuditEntry, Case, Member
from bot.db.session import make_engine, make_sessionmaker
from bot.domain import PRIORITY_RANK, CaseStatus, Priority, Role
from bot.services.casework import codes
from bot.services.errors import AlreadyTaken
from bot.services.organisation import invites, members
from bot.services.routing import queue
from fake_telegram import FakeBotAPI, TgUser
from tests.conftest import FakeClock
from tests.queue_helpers import (
    answered_callback,
    card_for,
    case_by_id,
    command,
    join,
    next_to,
    seed_places,
    settings,  # noqa: F401 - faster per-chat sending
    student_opens_case,
)

CLAIMS = 50


async def _psychologists(app: App, district: int, count: int, first_id: int) -> list[int]:
    """`count` psychologists of one district, registered through invites."""
    ids = []
    async with app.sessionmaker() as session, session.begin():
        scope = await members.scope_of(session, district_id=district)
        for n in range(count):
            created = await invites.create_invite(
                session, app.rt, Role.PSYCHOLOGIST, scope, by=None
            )
            token = created.link.split("join_", 1)[1]
            member = await invites.redeem(
                session,
                app.rt,
                token,
                telegram_user_id=first_id + n,
                chat_id=first_id + n,
                language_code="ru",
            )
            ids.append(member.id)
    return ids


async def test_fifty_concurrent_claims_have_exactly_one_winner(
    app: App, fake_api: FakeBotAPI, database_url: str
) -> None:
    places = await seed_places(app)
    case = await student_opens_case(
        app, fake_api, TgUser(9100, "S", language_code="ru"), "помогите", district=places.lenin
    )
    member_ids = await _psychologists(app, places.lenin, CLAIMS, 9200)
    # One connection per claimant, so all fifty transactions really run at once.
    engine = make_engine(database_url, pool_size=CLAIMS + 5, max_overflow=0)
    sessionmaker = make_sessionmaker(engine)
    gate = asyncio.Event()

    async def claim(member_id: int) -> str:
        async with sessionmaker() as session:
            await gate.wait()
            try:
                async with session.begin():
                    member = await session.get(Member, member_id)
                    assert member is not None
                    await queue.claim(session, app.rt, member, case.code)
            except AlreadyTaken:
                return "lost"
            return "won"

    try:
        tasks = [asyncio.create_task(claim(m)) for m in member_ids]
        await asyncio.sleep(0.05)
        gate.set()
        results = await asyncio.gather(*tasks)
    finally:
        await engine.dispose()
    assert results.count("won") == 1 and results.count("lost") == CLAIMS - 1
    winner = member_ids[results.index("won")]
    async with app.sessionmaker() as session:
        stored = await session.get(Case, case.id)
        assert stored is not None and stored.status == CaseStatus.CLAIMED
        assert stored.psychologist_id == winner
        holder = await session.get(Member, winner)
        assert holder is not None and holder.active_case_id == case.id
        claimed_rows = await session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.event == "case_claimed", AuditEntry.case_code == case.code)
        )
        assert claimed_rows == 1
        others = await session.scalar(
            select(func.count()).select_from(Member).where(Member.active_case_id == case.id)
        )
        assert others == 1


async def test_two_buttons_pressed_at_once(app: App, fake_api: FakeBotAPI) -> None:
    places = await seed_places(app)
    alice, bob = TgUser(9301, "Alice", language_code="ru"), TgUser(9302, "Bob", language_code="ru")
    await join(app, fake_api, alice, Role.PSYCHOLOGIST, district=places.lenin)
    await join(app, fake_api, bob, Role.PSYCHOLOGIST, district=places.lenin)
    student = TgUser(9303, "Kid", language_code="ru")
    start = len(fake_api.calls)
    case = await student_opens_case(app, fake_api, student, "меня обижают", district=places.lenin)
    card_a = await card_for(fake_api, alice.id, case.code, start)
    card_b = await card_for(fake_api, bob.id, case.code, start)
    start = len(fake_api.calls)
    fake_api.callback_query(alice, f"take:{case.code}", message=card_a.message)
    fake_api.callback_query(bob, f"take:{case.code}", message=card_b.message)
    answers = await fake_api.wait_for_count(
        lambda c: c.method.lower() == "answercallbackquery", 2, 10, start=start
    )
    alerts = [c.params.get("text") for c in answers if c.params.get("text")]
    assert alerts == [app.rt.tr("ru", "Another psychologist has already taken this case.")]
    stored = await case_by_id(app, case.id)
    winner = alice if stored.psychologist_id == (await _member_id(app, alice)) else bob
    loser = bob if winner is alice else alice
    took = await next_to(fake_api, winner.id, start, codes.display(case.code))
    assert took.text is not None
    # The student hears that someone has taken the conversation.
    await next_to(
        fake_api,
        student.id,
        start,
        app.rt.tr(
            "ru", "A psychologist has taken your conversation and will answer you here soon."
        ),
    )
    # The loser learns nothing about who won.
    for call in fake_api.calls_to(loser.id):
        assert str(winner.id) not in str(call.params) and winner.first_name not in str(call.params)


async def _member_id(app: App, user: TgUser) -> int:
    async with app.sessionmaker() as session:
        found = await session.scalar(
            select(Member.id).where(Member.pseudonym == app.rt.vault.pseudonyms.member_id(user.id))
        )
        assert found is not None
        return int(found)


async def test_queue_lists_urgent_first_then_oldest_of_own_pool(
    app: App, fake_api: FakeBotAPI, clock: FakeClock
) -> None:
    places = await seed_places(app)
    psy = TgUser(9401, "Psy", language_code="ru")
    await join(app, fake_api, psy, Role.PSYCHOLOGIST, district=places.lenin)
    # The other places have psychologists of their own (else their cases fall to psy).
    await join(
        app,
        fake_api,
        TgUser(9402, "O", language_code="ru"),
        Role.PSYCHOLOGIST,
        district=places.oktyabr,
    )
    await join(
        app,
        fake_api,
        TgUser(9403, "K", language_code="kk"),
        Role.PSYCHOLOGIST,
        district=places.kz_district,
    )
    made: dict[str, Case] = {}
    for name, district in (
        ("old", places.lenin),
        ("new", places.lenin),
        ("urgent", places.lenin),
        ("other", places.oktyabr),
        ("kz", places.kz_district),
    ):
        made[name] = await student_opens_case(
            app,
            fake_api,
            TgUser(9410 + len(made), "S", language_code="ru"),
            "текст",
            district=district,
        )
        clock.advance(minutes=5)
    async with app.sessionmaker() as session, session.begin():
        urgent = await session.get(Case, made["urgent"].id)
        assert urgent is not None
        urgent.priority, urgent.priority_rank = Priority.URGENT, PRIORITY_RANK[Priority.URGENT]
        old = await session.get(Case, made["old"].id)
        assert old is not None
        old.created_at -= timedelta(hours=1)
    start = len(fake_api.calls)
    command(fake_api, psy, "/queue")
    header = app.rt.tr(
        "ru", "Open cases in your pool: {total}. Urgent first, then the longest waiting.", total=3
    )
    listing = await next_to(fake_api, psy.id, start, header)
    text = listing.text or ""
    shown = [codes.display(made[n].code) for n in ("urgent", "old", "new")]
    positions = [text.index(code) for code in shown]
    assert positions == sorted(positions)
    assert codes.display(made["other"].code) not in text
    assert codes.display(made["kz"].code) not in text
    buttons = [
        b["callback_data"]
        for row in listing.params["reply_markup"]["inline_keyboard"]
        for b in row
    ]
    assert buttons == [f"take:{made[n].code}" for n in ("urgent", "old", "new")]


async def test_pool_borders_and_unrouted_cases(app: App, fake_api: FakeBotAPI) -> None:
    places = await seed_places(app)
    district_psy = TgUser(9501, "D", language_code="ru")
    region_psy = TgUser(9502, "R", language_code="ru")
    d_member = await join(app, fake_api, district_psy, Role.PSYCHOLOGIST, district=places.lenin)
    r_member = await join(app, fake_api, region_psy, Role.PSYCHOLOGIST, region=places.region)
    await join(
        app,
        fake_api,
        TgUser(9503, "K", language_code="kk"),
        Role.PSYCHOLOGIST,
        district=places.kz_district,
    )  # Kazakhstan's own
    oktyabr = await student_opens_case(
        app, fake_api, TgUser(9510, "S", language_code="ru"), "текст", district=places.oktyabr
    )
    kz = await student_opens_case(
        app, fake_api, TgUser(9511, "S", language_code="ru"), "текст", district=places.kz_district
    )
    # A student who skipped the region question, writing Russian (no country): the duty
    # pool is every psychologist, and any of them may take it.
    unrouted = await student_opens_case(
        app, fake_api, TgUser(9512, "S", language_code="ru"), "текст"
    )
    async with app.sessionmaker() as session:
        d = await session.get(Member, d_member.id)
        r = await session.get(Member, r_member.id)
        assert d is not None and r is not None
        d_codes = {c.code for c in (await queue.list_queue(session, d))[0]}
        r_codes = {c.code for c in (await queue.list_queue(session, r))[0]}
    assert d_codes == {unrouted.code}
    assert r_codes == {oktyabr.code, unrouted.code}
    async with app.sessionmaker() as session, session.begin():
        d = await session.get(Member, d_member.id)
        assert d is not None
        with pytest.raises(queue.NotInPool):
            await queue.claim(session, app.rt, d, kz.code)
        with pytest.raises(queue.NotInPool):
            await queue.claim(session, app.rt, d, oktyabr.code)
        assert (await queue.claim(session, app.rt, d, unrouted.code)).case.psychologist_id == d.id
    assert (await case_by_id(app, kz.id)).status == CaseStatus.OPEN
    assert (await case_by_id(app, oktyabr.id)).status == CaseStatus.OPEN
    start = len(fake_api.calls)
    fake_api.callback_query(region_psy, f"take:{unrouted.code}")
    answer = await answered_callback(fake_api, start)
    assert answer.params.get("text") == app.rt.tr(
        "ru", "Another psychologist has already taken this case."
    )


async def test_stepping_aside_from_a_waiting_case(app: App, fake_api: FakeBotAPI) -> None:
    places = await seed_places(app)
    alice, bob = await _psychologists(app, places.lenin, 2, 9600)
    case = await student_opens_case(
        app, fake_api, TgUser(9610, "S", language_code="ru"), "текст", district=places.lenin
    )
    async with app.sessionmaker() as session, session.begin():
        a = await session.get(Member, alice)
        assert a is not None
        await queue.recuse(session, app.rt, a, await queue.find_case(session, case.code))
    async with app.sessionmaker() as session, session.begin():
        a, b = await session.get(Member, alice), await session.get(Member, bob)
        assert a is not None and b is not None
        assert (await queue.list_queue(session, a))[0] == []
        assert [c.code for c in (await queue.list_queue(session, b))[0]] == [case.code]
        with pytest.raises(queue.NotInPool):
            await queue.claim(session, app.rt, a, case.code)
    async with app.sessionmaker() as session:
        event = await session.scalar(
            select(AuditEntry.event)
            .where(AuditEntry.case_code == case.code)
            .order_by(AuditEntry.id.desc())
        )
        assert event == "case_stepped_aside"
        detail = await session.scalar(
            select(AuditEntry.detail).where(AuditEntry.event == "case_stepped_aside")
        )
        assert detail == "{}"  # who stepped aside is the actor; why is never asked
    assert (await case_by_id(app, case.id)).status == CaseStatus.OPEN
