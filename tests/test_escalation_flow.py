"""Deadlines through the real services: a student opens a case, a psychologist takes it,
answers, releases it; the worker's steps follow each change (scheduling is done by those
services calling `deadlines.schedule`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.app import App, create_app
from bot.config import Settings
from bot.db.models import Case, Member
from bot.domain import CaseStatus, ContentKind, Role
from bot.services.casework import cases, codes
from bot.services.casework.cases import IncomingContent
from tests.conftest import FakeClock
from tests.deadline_helpers import make_member, make_place, run_due, sent_to

queue = pytest.importorskip("bot.services.routing.queue")
conversation = pytest.importorskip("bot.services.casework.conversation")


@pytest.fixture
async def quiet_app(settings: Settings, clock: FakeClock) -> AsyncIterator[App]:
    application = await create_app(settings, clock=clock, migrate=False)
    try:
        yield application
    finally:
        await application.close()


def text(value: str) -> IncomingContent:
    return IncomingContent(ContentKind.TEXT, value, None, 1)


async def student_writes(app: App, user_id: int, value: str, school_id: int) -> str:
    async with app.sessionmaker() as session, session.begin():
        student = await cases.get_or_create_student(session, app.rt, user_id)
        student.language = "ru"
        student.school_id = school_id
        result = await cases.submit_student_message(session, app.rt, student, user_id, text(value))
        return result.case_code


async def as_member(app: App, member_id: int, code: str, action: str) -> None:
    async with app.sessionmaker() as session, session.begin():
        member = await session.get(Member, member_id)
        assert member is not None
        if action == "take":
            await queue.claim(session, app.rt, member, codes.display(code))
            return
        case = await queue.find_case(session, codes.display(code))
        if action == "answer":
            await conversation.answer_student(session, app.rt, member, case, text("Привет"))
        elif action == "release":
            await queue.release(session, app.rt, member, case)


async def stored(app: App, code: str) -> Case:
    async with app.sessionmaker() as session:
        case = await queue.find_case(session, codes.display(code))
        assert case is not None
        return case


async def test_the_deadlines_follow_the_case_through_its_life(
    quiet_app: App, clock: FakeClock
) -> None:
    app = quiet_app
    async with app.sessionmaker() as session, session.begin():
        place = await make_place(session)
        psychologist = await make_member(
            session,
            app.rt,
            user_id=9501,
            role=Role.PSYCHOLOGIST,
            region_id=place.region_id,
            district_id=place.district_id,
        )
        supervisor = await make_member(
            session, app.rt, user_id=9502, role=Role.SUPERVISOR, region_id=place.region_id
        )
    code = await student_writes(app, 7501, "у меня проблемы с учёбой", place.school_id)
    assert (await stored(app, code)).priority == "normal"

    clock.advance(hours=3)
    await as_member(app, psychologist.id, code, "take")
    clock.advance(hours=23)
    assert await run_due(app) == []  # the psychologist has a day from taking it
    clock.advance(hours=1, minutes=1)
    assert [s.event for s in await run_due(app)] == ["reminded_unanswered"]

    await as_member(app, psychologist.id, code, "answer")
    assert (await stored(app, code)).next_deadline_at is None
    clock.advance(hours=50)
    assert await run_due(app) == []

    # The student writes again: a new wait, a new day.
    await student_writes(app, 7501, "спасибо, но стало хуже", place.school_id)
    clock.advance(hours=24, minutes=1)
    assert [(s.event, s.level) for s in await run_due(app)] == [("reminded_unanswered", 1)]

    # Given back to the pool unanswered: an untaken case again, and the student's wait
    # goes on; the release does not restart it (48 hours after they wrote, as before).
    await as_member(app, psychologist.id, code, "release")
    case = await stored(app, code)
    assert case.status == CaseStatus.OPEN
    clock.advance(hours=23, minutes=58)
    assert await run_due(app) == []
    clock.advance(minutes=2)
    assert [s.event for s in await run_due(app)] == ["escalated_untaken"]
    case = await stored(app, code)
    assert (case.escalations, case.deadline_breaches) == (1, 3)
    assert len(await sent_to(app, supervisor.id)) == 1


async def test_an_urgent_case_given_back_is_alerted_again_within_five_minutes(
    quiet_app: App, clock: FakeClock
) -> None:
    app = quiet_app
    async with app.sessionmaker() as session, session.begin():
        place = await make_place(session)
        psychologist = await make_member(
            session,
            app.rt,
            user_id=9511,
            role=Role.PSYCHOLOGIST,
            region_id=place.region_id,
            district_id=place.district_id,
        )
        supervisor = await make_member(
            session, app.rt, user_id=9512, role=Role.SUPERVISOR, region_id=place.region_id
        )
    code = await student_writes(app, 7511, "я больше не хочу жить", place.school_id)
    assert (await stored(app, code)).priority == "urgent"
    clock.advance(minutes=2)
    await as_member(app, psychologist.id, code, "take")
    clock.advance(minutes=30)
    assert await run_due(app) == []  # taken: no untaken alerts
    await as_member(app, psychologist.id, code, "release")
    clock.advance(minutes=4, seconds=50)
    assert await run_due(app) == []
    clock.advance(seconds=20)
    assert [s.event for s in await run_due(app)] == ["escalated_urgent_untaken"]
    assert len(await sent_to(app, supervisor.id)) == 1
