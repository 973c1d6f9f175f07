"""The deadline rules, one by one: the worker's step is called directly after moving the
clock (no sleeps), and what it queued is read back from the outbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from bot.app import App, create_app
from bot.config import Settings
from bot.db.models import Case, Member
from bot.domain import CaseStatus, Category, Priority, Role
from bot.services.casework import codes, deadlines
from tests.conftest import FakeClock
from tests.deadline_helpers import (
    Place,
    answer,
    audit_events,
    make_case,
    make_member,
    make_place,
    reload,
    run_due,
    sent_to,
    take,
)

SECRET = "мне страшно идти в школу, Айбек бьёт меня каждый день"


@pytest.fixture
async def quiet_app(settings: Settings, clock: FakeClock) -> AsyncIterator[App]:
    """The app without polling or background workers: the test is the worker."""
    application = await create_app(settings, clock=clock, migrate=False)
    try:
        yield application
    finally:
        await application.close()


@dataclass
class World:
    place: Place
    psychologists: list[Member]
    outsider: Member  # a psychologist of another district
    supervisor: Member
    other_supervisor: Member  # a supervisor of another region


async def make_world(app: App) -> World:
    async with app.sessionmaker() as session, session.begin():
        place = await make_place(session)
        elsewhere = await make_place(session, name="Osh")
        rt = app.rt
        psychologists = [
            await make_member(
                session,
                rt,
                user_id=9101,
                role=Role.PSYCHOLOGIST,
                region_id=place.region_id,
                district_id=place.district_id,
                language="ky",
            ),
            await make_member(
                session,
                rt,
                user_id=9102,
                role=Role.PSYCHOLOGIST,
                region_id=place.region_id,
                district_id=place.district_id,
            ),
        ]
        outsider = await make_member(
            session,
            rt,
            user_id=9103,
            role=Role.PSYCHOLOGIST,
            region_id=elsewhere.region_id,
            district_id=elsewhere.district_id,
        )
        supervisor = await make_member(
            session,
            rt,
            user_id=9201,
            role=Role.SUPERVISOR,
            region_id=place.region_id,
            language="kk",
        )
        other = await make_member(
            session, rt, user_id=9202, role=Role.SUPERVISOR, region_id=elsewhere.region_id
        )
    return World(place, psychologists, outsider, supervisor, other)


async def new_case(app: App, world: World, priority: Priority, **kwargs: object) -> Case:
    async with app.sessionmaker() as session, session.begin():
        return await make_case(
            session,
            app.rt,
            world.place,
            priority=priority,
            text=SECRET,
            category=Category.BULLYING,
            **kwargs,
        )  # type: ignore[arg-type]


async def take_case(app: App, case: Case, member: Member) -> None:
    async with app.sessionmaker() as session, session.begin():
        stored = await session.get(Case, case.id)
        assert stored is not None
        take(stored, member, app.rt)


def texts(calls: list[dict[str, object]]) -> list[str]:
    return [str(c["params"]["text"]) for c in calls]  # type: ignore[index]


async def test_urgent_untaken_alerts_pool_and_region_supervisors(
    quiet_app: App, clock: FakeClock
) -> None:
    app = quiet_app
    world = await make_world(app)
    case = await new_case(app, world, Priority.URGENT)
    clock.advance(minutes=4, seconds=50)
    assert await run_due(app) == []
    clock.advance(seconds=20)
    steps = await run_due(app)
    assert [(s.case_code, s.event, s.level) for s in steps] == [
        (case.code, "escalated_urgent_untaken", 1)
    ]
    assert steps[0].recipients == 3  # two psychologists and the region's supervisor

    headline_ru = app.rt.tr(
        "ru",
        "🚨 Urgent case not taken for {wait}",
        wait=app.rt.tr("ru", "{minutes} min", minutes=5),
    )
    for psychologist in world.psychologists:
        calls = await sent_to(app, psychologist.id)
        assert len(calls) == 1
        text = str(calls[0]["params"]["text"])
        assert codes.display(case.code) in text
        assert SECRET not in text and "Айбек" not in text
        button = calls[0]["params"]["reply_markup"]["inline_keyboard"][0][0]
        assert button["callback_data"] == f"take:{case.code}"
        assert calls[0]["relay_case_id"] == case.id
    ru_text = texts(await sent_to(app, world.psychologists[1].id))[0]
    assert ru_text.startswith(headline_ru)
    ky_text = texts(await sent_to(app, world.psychologists[0].id))[0]
    assert ky_text.startswith(
        app.rt.tr(
            "ky",
            "🚨 Urgent case not taken for {wait}",
            wait=app.rt.tr("ky", "{minutes} min", minutes=5),
        )
    )

    [to_supervisor] = await sent_to(app, world.supervisor.id)
    card = str(to_supervisor["params"]["text"])
    assert "reply_markup" not in to_supervisor["params"]
    assert to_supervisor["relay_case_id"] is None
    assert SECRET not in card and "Айбек" not in card
    # code, priority, category, district, school, waiting: and nothing after them
    lines = card.split("\n")
    assert lines[0].startswith(
        app.rt.tr(
            "kk",
            "🚨 Urgent case not taken for {wait}",
            wait=app.rt.tr("kk", "{minutes} min", minutes=5),
        )
    )
    assert codes.display(case.code) in lines[1]
    assert "Chüy school 1" in card and "Chüy district" in card
    assert len(lines) == 7
    assert await sent_to(app, world.outsider.id) == []
    assert await sent_to(app, world.other_supervisor.id) == []

    stored = await reload(app, case.id)
    assert (stored.escalations, stored.deadline_breaches, stored.escalation_level) == (1, 1, 1)
    events = await audit_events(app, case.code)
    assert (
        "escalated_urgent_untaken",
        {"level": 1, "priority": "urgent", "recipients": 3},
    ) in events


async def test_urgent_repeats_every_five_minutes_until_taken(
    quiet_app: App, clock: FakeClock
) -> None:
    app = quiet_app
    world = await make_world(app)
    case = await new_case(app, world, Priority.URGENT)
    clock.advance(minutes=5, seconds=1)
    levels = [s.level for s in await run_due(app)]
    for _ in range(2):
        clock.advance(minutes=4)
        assert await run_due(app) == []  # not before the next five minutes are up
        clock.advance(minutes=1)
        levels += [s.level for s in await run_due(app)]
    assert levels == [1, 2, 3]
    assert len(await sent_to(app, world.supervisor.id)) == 3
    assert len(await sent_to(app, world.psychologists[0].id)) == 3

    await take_case(app, case, world.psychologists[0])
    for _ in range(4):
        clock.advance(minutes=5, seconds=1)
        assert await run_due(app) == []
    stored = await reload(app, case.id)
    assert (stored.escalations, stored.deadline_breaches) == (3, 3)
    assert len(await sent_to(app, world.supervisor.id)) == 3
    untaken = [e for e, _ in await audit_events(app, case.code) if e == "escalated_urgent_untaken"]
    assert len(untaken) == 3


async def test_urgent_claimed_through_the_queue_stops_the_alerts(
    quiet_app: App, clock: FakeClock
) -> None:
    queue = pytest.importorskip("bot.services.routing.queue")
    app = quiet_app
    world = await make_world(app)
    case = await new_case(app, world, Priority.URGENT)
    clock.advance(minutes=6)
    assert len(await run_due(app)) == 1
    async with app.sessionmaker() as session, session.begin():
        member = await session.get(Member, world.psychologists[1].id)
        assert member is not None
        await queue.claim(session, app.rt, member, codes.display(case.code))
    clock.advance(minutes=30)
    assert await run_due(app) == []
    assert (await reload(app, case.id)).status == CaseStatus.CLAIMED


async def test_high_untaken_for_an_hour_goes_to_supervisors_only(
    quiet_app: App, clock: FakeClock
) -> None:
    app = quiet_app
    world = await make_world(app)
    case = await new_case(app, world, Priority.HIGH)
    clock.advance(minutes=59)
    assert await run_due(app) == []
    clock.advance(minutes=2)
    steps = await run_due(app)
    assert [(s.event, s.recipients) for s in steps] == [("escalated_untaken", 1)]
    [call] = await sent_to(app, world.supervisor.id)
    assert str(call["params"]["text"]).startswith(
        app.rt.tr(
            "kk",
            "⏰ Case not taken for {wait}",
            wait=app.rt.tr("kk", "{hours} h {minutes} min", hours=1, minutes=1),
        )
    )
    assert SECRET not in str(call["params"]["text"])
    for psychologist in world.psychologists:
        assert await sent_to(app, psychologist.id) == []
    stored = await reload(app, case.id)
    assert (stored.escalations, stored.deadline_breaches) == (1, 1)
    clock.advance(minutes=58)
    assert await run_due(app) == []
    clock.advance(minutes=2)
    assert [s.level for s in await run_due(app)] == [2]  # and again, hourly, until taken


async def test_normal_untaken_for_a_day_goes_to_supervisors(
    quiet_app: App, clock: FakeClock
) -> None:
    app = quiet_app
    world = await make_world(app)
    case = await new_case(app, world, Priority.NORMAL)
    clock.advance(hours=23, minutes=59)
    assert await run_due(app) == []
    clock.advance(minutes=2)
    steps = await run_due(app)
    assert [(s.case_code, s.event) for s in steps] == [(case.code, "escalated_untaken")]
    assert len(await sent_to(app, world.supervisor.id)) == 1
    assert await sent_to(app, world.psychologists[0].id) == []
    assert (
        "escalated_untaken",
        {"level": 1, "priority": "normal", "recipients": 1},
    ) in await audit_events(app, case.code)


async def test_unanswered_reminds_at_24h_then_escalates_at_48h(
    quiet_app: App, clock: FakeClock
) -> None:
    app = quiet_app
    world = await make_world(app)
    case = await new_case(app, world, Priority.HIGH)
    holder = world.psychologists[0]
    await take_case(app, case, holder)
    clock.advance(hours=23, minutes=59)
    assert await run_due(app) == []
    clock.advance(minutes=2)
    steps = await run_due(app)
    assert [(s.event, s.level, s.recipients) for s in steps] == [("reminded_unanswered", 1, 1)]
    [reminder] = await sent_to(app, holder.id)
    assert str(reminder["params"]["text"]).startswith(
        app.rt.tr(
            "ky",
            "⏰ The student has been waiting for your answer for {wait}",
            wait=app.rt.tr("ky", "{hours} h {minutes} min", hours=24, minutes=1),
        )
    )
    assert reminder["relay_case_id"] == case.id  # a reply to the reminder reaches the student
    assert "reply_markup" not in reminder["params"]
    assert await sent_to(app, world.supervisor.id) == []
    assert await sent_to(app, world.psychologists[1].id) == []

    clock.advance(hours=23, minutes=58)
    assert await run_due(app) == []
    clock.advance(minutes=2)
    steps = await run_due(app)
    assert [(s.event, s.level) for s in steps] == [("escalated_unanswered", 2)]
    [escalated] = await sent_to(app, world.supervisor.id)
    text = str(escalated["params"]["text"])
    assert text.startswith(
        app.rt.tr(
            "kk",
            "⚠️ No answer to the student for {wait}",
            wait=app.rt.tr.plural("kk", "{days} day", "{days} days", 2, days=2),
        )
    )
    assert SECRET not in text and "reply_markup" not in escalated["params"]
    assert len(await sent_to(app, holder.id)) == 1  # the reminder was already sent
    stored = await reload(app, case.id)
    assert (stored.escalations, stored.deadline_breaches) == (1, 2)

    clock.advance(hours=24, minutes=1)
    assert [s.event for s in await run_due(app)] == ["escalated_unanswered"]
    assert len(await sent_to(app, world.supervisor.id)) == 2


async def test_an_answer_stops_the_reminders(quiet_app: App, clock: FakeClock) -> None:
    app = quiet_app
    world = await make_world(app)
    case = await new_case(app, world, Priority.NORMAL)
    await take_case(app, case, world.psychologists[0])
    clock.advance(hours=20)
    async with app.sessionmaker() as session, session.begin():
        stored = await session.get(Case, case.id)
        assert stored is not None
        answer(stored, app.rt)
        assert stored.next_deadline_at is None
    clock.advance(hours=60)
    assert await run_due(app) == []
    assert await sent_to(app, world.psychologists[0].id) == []


async def test_the_answer_clock_starts_when_the_case_is_taken(
    quiet_app: App, clock: FakeClock
) -> None:
    """A normal case taken after 23 hours: its psychologist gets a day, not an hour."""
    app = quiet_app
    world = await make_world(app)
    case = await new_case(app, world, Priority.NORMAL)
    clock.advance(hours=23)
    await take_case(app, case, world.psychologists[0])
    clock.advance(hours=23)
    assert await run_due(app) == []
    clock.advance(hours=1, minutes=1)
    assert [s.event for s in await run_due(app)] == ["reminded_unanswered"]


async def test_inactive_psychologist_means_supervisors_at_once(
    quiet_app: App, clock: FakeClock
) -> None:
    app = quiet_app
    world = await make_world(app)
    case = await new_case(app, world, Priority.NORMAL)
    holder = world.psychologists[1]
    await take_case(app, case, holder)
    async with app.sessionmaker() as session, session.begin():
        stored_member = await session.get(Member, holder.id)
        assert stored_member is not None
        stored_member.active = False
    clock.advance(hours=24, minutes=1)
    assert [s.event for s in await run_due(app)] == ["escalated_unanswered"]
    assert await sent_to(app, holder.id) == []
    assert len(await sent_to(app, world.supervisor.id)) == 1


async def test_after_downtime_one_catch_up_alert_not_a_burst(
    quiet_app: App, clock: FakeClock
) -> None:
    app = quiet_app
    world = await make_world(app)
    case = await new_case(app, world, Priority.URGENT)
    clock.advance(hours=1)
    assert [s.level for s in await run_due(app)] == [1]
    assert await run_due(app) == []
    stored = await reload(app, case.id)
    assert stored.next_deadline_at is not None
    assert (
        stored.next_deadline_at
        > clock()
        + deadlines.take_deadline(stored, app.settings)
        - deadlines.take_deadline(stored, app.settings) / 5
    )
    clock.advance(minutes=5)
    assert [s.level for s in await run_due(app)] == [2]


async def test_a_case_that_becomes_urgent_gets_a_full_five_minutes(
    quiet_app: App, clock: FakeClock
) -> None:
    app = quiet_app
    world = await make_world(app)
    case = await new_case(app, world, Priority.NORMAL)
    clock.advance(minutes=40)
    async with app.sessionmaker() as session, session.begin():
        stored = await session.get(Case, case.id)
        assert stored is not None
        stored.priority, stored.priority_rank = Priority.URGENT, 0
        deadlines.schedule(stored, app.settings, clock())
    assert await run_due(app) == []
    clock.advance(minutes=5, seconds=1)
    steps = await run_due(app)
    assert [s.event for s in steps] == ["escalated_urgent_untaken"]
    [call] = await sent_to(app, world.supervisor.id)
    assert str(call["params"]["text"]).startswith(
        app.rt.tr(
            "kk",
            "🚨 Urgent case not taken for {wait}",
            wait=app.rt.tr("kk", "{minutes} min", minutes=45),
        )
    )


async def test_writing_again_does_not_postpone_the_deadline(
    quiet_app: App, clock: FakeClock
) -> None:
    app = quiet_app
    world = await make_world(app)
    case = await new_case(app, world, Priority.HIGH)
    first = (await reload(app, case.id)).next_deadline_at
    for _ in range(5):
        clock.advance(minutes=11)
        async with app.sessionmaker() as session, session.begin():
            stored = await session.get(Case, case.id)
            assert stored is not None
            deadlines.schedule(stored, app.settings, clock())  # as each new message does
    assert (await reload(app, case.id)).next_deadline_at == first
    clock.advance(minutes=6)
    assert len(await run_due(app)) == 1


async def test_closed_cases_are_left_alone(quiet_app: App, clock: FakeClock) -> None:
    app = quiet_app
    world = await make_world(app)
    case = await new_case(app, world, Priority.URGENT)
    async with app.sessionmaker() as session, session.begin():
        stored = await session.get(Case, case.id)
        assert stored is not None
        stored.status = CaseStatus.CLOSED  # even if whoever closed it forgot the deadline
    clock.advance(hours=2)
    assert await run_due(app) == []
    assert await sent_to(app, world.supervisor.id) == []


async def test_a_case_without_a_place_reaches_the_duty_pool_and_every_supervisor(
    quiet_app: App, clock: FakeClock
) -> None:
    """No region and a Russian text name no country: the duty pool is every psychologist
    (bot.services.routing.pool_policy), and every supervisor hears of it."""
    app = quiet_app
    world = await make_world(app)
    async with app.sessionmaker() as session, session.begin():
        case = await make_case(session, app.rt, None, priority=Priority.URGENT)
    clock.advance(minutes=6)
    steps = await run_due(app)
    assert [s.case_code for s in steps] == [case.code]
    assert len(await sent_to(app, world.supervisor.id)) == 1
    assert len(await sent_to(app, world.other_supervisor.id)) == 1
    for psychologist in [*world.psychologists, world.outsider]:
        [card] = await sent_to(app, psychologist.id)
        button = card["params"]["reply_markup"]["inline_keyboard"][0][0]  # type: ignore[index]
        assert button["callback_data"] == f"take:{case.code}"
