"""The deadline worker as it runs in production: several instances on one database, a
restart in the middle, and the loop inside the app."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from bot.app import App, create_app
from bot.config import Settings
from bot.db.models import Case
from bot.delivery import outbox
from bot.domain import Priority, Role
from bot.services.routing import escalation
from bot.workers import deadline_worker
from fake_telegram import Call, FakeBotAPI
from tests.conftest import FakeClock
from tests.deadline_helpers import (
    Place,
    audit_events,
    make_case,
    make_member,
    make_place,
    reload,
    run_due,
    sent_to,
)

SUPERVISOR_CHAT = 9301
PSYCHOLOGIST_CHAT = 9302


@pytest.fixture
async def two_apps(settings: Settings, clock: FakeClock) -> AsyncIterator[tuple[App, App]]:
    """Two instances (own engines, own connection pools) on the same database."""
    first = await create_app(settings, clock=clock, migrate=False)
    second = await create_app(settings, clock=clock, migrate=False)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def setup_pool(app: App) -> tuple[Place, int, int]:
    async with app.sessionmaker() as session, session.begin():
        place = await make_place(session)
        supervisor = await make_member(
            session,
            app.rt,
            user_id=SUPERVISOR_CHAT,
            role=Role.SUPERVISOR,
            region_id=place.region_id,
        )
        psychologist = await make_member(
            session,
            app.rt,
            user_id=PSYCHOLOGIST_CHAT,
            role=Role.PSYCHOLOGIST,
            region_id=place.region_id,
            district_id=place.district_id,
        )
    return place, supervisor.id, psychologist.id


async def drain(app: App) -> list[escalation.Step]:
    """A worker taking small batches until it finds nothing due."""
    steps: list[escalation.Step] = []
    while batch := await run_due(app, limit=2):
        steps += batch
    return steps


async def test_two_workers_send_each_escalation_once(
    two_apps: tuple[App, App], clock: FakeClock
) -> None:
    first, second = two_apps
    place, supervisor_id, psychologist_id = await setup_pool(first)
    async with first.sessionmaker() as session, session.begin():
        codes = [
            (await make_case(session, first.rt, place, priority=Priority.URGENT)).code
            for _ in range(12)
        ]
    clock.advance(minutes=5, seconds=30)
    results = await asyncio.gather(drain(first), drain(second), drain(first), drain(second))
    steps = [step for result in results for step in result]
    assert Counter(step.case_code for step in steps) == Counter(codes)  # each exactly once
    assert len(await sent_to(first, supervisor_id)) == 12
    assert len(await sent_to(second, psychologist_id)) == 12
    for code in codes:
        events = [e for e, _ in await audit_events(first, code)]
        assert events.count("escalated_urgent_untaken") == 1

    clock.advance(minutes=5)  # the next round is shared the same way
    results = await asyncio.gather(drain(second), drain(first))
    assert sorted(s.case_code for r in results for s in r) == sorted(codes)
    assert {s.level for r in results for s in r} == {2}


async def test_a_case_another_worker_holds_is_skipped_not_waited_for(
    two_apps: tuple[App, App], clock: FakeClock, settings: Settings
) -> None:
    if settings.database_url.startswith("sqlite"):
        pytest.skip("SQLite serialises writers; SKIP LOCKED is PostgreSQL's")
    first, second = two_apps
    place, supervisor_id, _ = await setup_pool(first)
    async with first.sessionmaker() as session, session.begin():
        case = await make_case(session, first.rt, place, priority=Priority.URGENT)
    clock.advance(minutes=6)
    async with first.sessionmaker() as session:
        async with session.begin():
            held = await escalation.run_due(session, first.rt)
            assert [s.case_code for s in held] == [case.code]
            # Still uncommitted: the other instance must pass the row by, at once.
            assert await asyncio.wait_for(run_due(second), timeout=5) == []
        # Committed: the deadline has moved on, so there is nothing left to do.
    assert await run_due(second) == []
    assert len(await sent_to(second, supervisor_id)) == 1
    assert (await reload(second, case.id)).escalations == 1


async def test_a_case_busy_with_its_own_messages_is_not_skipped(
    two_apps: tuple[App, App], clock: FakeClock, settings: Settings
) -> None:
    """Writing a row that refers to the case (an outbox row, a relay) takes a KEY SHARE lock
    on it; the worker must not mistake that for another worker."""
    if settings.database_url.startswith("sqlite"):
        pytest.skip("row locks are PostgreSQL's")
    first, second = two_apps
    place, supervisor_id, _ = await setup_pool(first)
    async with first.sessionmaker() as session, session.begin():
        case = await make_case(session, first.rt, place, priority=Priority.URGENT)
    clock.advance(minutes=6)
    async with first.sessionmaker() as session, session.begin():
        stored = await session.get(Case, case.id)
        assert stored is not None
        outbox.enqueue(session, first.rt.vault, stored, "sendMessage", {"text": "…"}, now=clock())
        await session.flush()  # the foreign key check locks the case row, KEY SHARE
        steps = await asyncio.wait_for(run_due(second), timeout=5)
        assert [s.case_code for s in steps] == [case.code]
    assert len(await sent_to(second, supervisor_id)) == 1


async def test_a_restarted_instance_picks_up_due_deadlines(
    settings: Settings, clock: FakeClock, fake_api: FakeBotAPI
) -> None:
    before = await create_app(settings, clock=clock, migrate=False)
    try:
        place, _, _ = await setup_pool(before)
        async with before.sessionmaker() as session, session.begin():
            case = await make_case(session, before.rt, place, priority=Priority.URGENT)
    finally:
        await before.close()  # the instance goes away with the deadline still ahead

    clock.advance(minutes=7)
    after = await create_app(settings, clock=clock, migrate=False)
    try:
        await after.start_background()  # as `trustline run` does: outbox + deadline worker
        headline = after.rt.tr(
            "ru",
            "🚨 Urgent case not taken for {wait}",
            wait=after.rt.tr("ru", "{minutes} min", minutes=7),
        )
        alert = await fake_api.wait_for_send(SUPERVISOR_CHAT, headline, timeout=10)
        assert case.code[:4] in (alert.text or "")
        await fake_api.wait_for_send(PSYCHOLOGIST_CHAT, headline, timeout=10)
        events = [e for e, _ in await audit_events(after, case.code)]
        assert events.count("escalated_urgent_untaken") == 1
    finally:
        await after.close()


async def test_the_worker_loop_keeps_alerting_until_taken(
    settings: Settings, clock: FakeClock, fake_api: FakeBotAPI
) -> None:
    app = await create_app(settings, clock=clock, migrate=False)
    tasks = [
        asyncio.create_task(app.sender.run()),
        asyncio.create_task(deadline_worker(app, every=0.05)),
    ]
    try:
        place, _, _ = await setup_pool(app)
        async with app.sessionmaker() as session, session.begin():
            case = await make_case(session, app.rt, place, priority=Priority.URGENT)

        def to_supervisor(call: Call) -> bool:
            return call.is_send and call.chat_id == SUPERVISOR_CHAT

        clock.advance(minutes=5, seconds=5)
        await fake_api.wait_for_count(to_supervisor, 1, timeout=10)
        clock.advance(minutes=5)
        await fake_api.wait_for_count(to_supervisor, 2, timeout=10)
        stored = await reload(app, case.id)
        assert (stored.escalation_level, stored.escalations) == (2, 2)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await app.close()
