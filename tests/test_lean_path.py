"""The lean student-message path (bot/services/casework/lean.py): it takes a known student's
ordinary text on their open case, does what the ORM path does, row for row, and hands
everything else over before writing anything."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.app import App
from bot.db.models import AuditEntry, CaseMessage, Student
from bot.domain import Author, Priority, Role
from bot.services.casework import codes, lean
from bot.services.security import audit
from fake_telegram import FakeBotAPI, TgUser
from tests.queue_helpers import (
    case_by_id,
    join,
    next_to,
    seed_places,
    settings,  # noqa: F401 - faster per-chat sending
    student_opens_case,
    take,
)

ORDINARY = "Мне просто хочется с кем-то поговорить"
ALSO_ORDINARY = "После уроков мы ходили в библиотеку"
URGENT = "Я хочу покончить с собой сегодня"


@pytest.fixture
def outcomes(monkeypatch: pytest.MonkeyPatch) -> list[lean.Outcome]:
    """What the lean path answered, update by update."""
    seen: list[lean.Outcome] = []
    submit: Callable[..., Awaitable[lean.Outcome]] = lean.submit

    async def recorded(*args: Any) -> lean.Outcome:
        outcome = await submit(*args)
        seen.append(outcome)
        return outcome

    monkeypatch.setattr(lean, "submit", recorded)
    return seen


def _sent(api: FakeBotAPI, start: int, chats: dict[int, str]) -> list[tuple[str, str, Any]]:
    """What reached `chats` from call `start` on: (whose chat, method, parameters without
    the chat and the text)."""
    return [
        (
            chats[call.chat_id],
            call.method,
            {k: v for k, v in call.params.items() if k not in ("chat_id", "text")},
        )
        for call in api.calls[start:]
        if call.is_send and call.chat_id in chats
    ]


async def _count(app: App, model: Any, *where: Any) -> int:
    async with app.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)))


async def test_an_ordinary_message_on_a_taken_case_is_lean_and_the_same_as_the_orm_path(
    app: App, fake_api: FakeBotAPI, outcomes: list[lean.Outcome]
) -> None:
    places = await seed_places(app)
    psy = TgUser(7101, "Aigerim", language_code="ru")
    await join(app, fake_api, psy, Role.PSYCHOLOGIST, district=places.lenin)
    student = TgUser(7102, "Daniyar", language_code="ru")
    case = await student_opens_case(app, fake_api, student, ORDINARY, district=places.lenin)
    await take(app, fake_api, psy, case.code)
    assert lean.Outcome.DONE not in outcomes  # the first message opened the case: ORM

    # The same kind of message twice: through the ORM path, then the lean one.
    sent = []
    for lean_on, text in ((False, ORDINARY), (True, ALSO_ORDINARY)):
        app.settings.lean_student_path = lean_on
        start = len(fake_api.calls)
        fake_api.text_message(student, text)
        relay = await next_to(fake_api, psy.id, start, text)
        assert relay.params.get("protect_content") is True
        label = app.rt.tr("ru", "💬 {code} — the student writes:", code=codes.display(case.code))
        assert (relay.text or "").startswith(label)
        await next_to(fake_api, student.id, start, app.rt.tr("ru", "Received ✓"))
        sent.append(sorted(_sent(fake_api, start, {psy.id: "holder", student.id: "student"})))
    assert outcomes[-1] is lean.Outcome.DONE
    by_orm, by_lean = sent
    assert [who for who, _, _ in by_lean] == ["holder", "student"]
    assert by_orm == by_lean  # methods, labels' options, protect_content, keyboards

    async with app.sessionmaker() as session:
        stored = await case_by_id(app, case.id)
        assert stored.message_count == 3 and stored.awaiting_since is not None
        messages = (
            await session.scalars(
                select(CaseMessage)
                .where(CaseMessage.case_id == case.id, CaseMessage.author == Author.STUDENT)
                .order_by(CaseMessage.created_at)
            )
        ).all()
        bodies = [
            app.rt.vault.open_text_for_case(stored, f"msg/{m.id}", "body", m.body_enc)
            for m in messages
        ]
        assert bodies == [ORDINARY, ORDINARY, ALSO_ORDINARY]
        assert all(m.source_message_id is not None for m in messages)
        events = (
            await session.scalars(
                select(AuditEntry.event)
                .where(AuditEntry.case_code == case.code)
                .order_by(AuditEntry.id.desc())
                .limit(2)
            )
        ).all()
        assert events == ["student_message", "student_message"]
        assert (await audit.verify(session)).ok


async def test_a_redelivered_update_is_stored_once(
    app: App, fake_api: FakeBotAPI, outcomes: list[lean.Outcome]
) -> None:
    student = TgUser(7201, "Aruzhan", language_code="ru")
    case = await student_opens_case(app, fake_api, student, ORDINARY)
    update_id = 10_000_001
    message = lean.StudentText(update_id, student.id, student.id, 77, ALSO_ORDINARY)
    for expected in (lean.Outcome.DONE, lean.Outcome.DUPLICATE):
        async with app.sessionmaker() as session, session.begin():
            assert await lean.submit(session, app.rt, message) is expected
    assert await _count(app, CaseMessage, CaseMessage.case_id == case.id) == 2
    assert (await case_by_id(app, case.id)).message_count == 2
    audited = await _count(
        app, AuditEntry, AuditEntry.case_code == case.code, AuditEntry.event == "student_message"
    )
    assert audited == 2


async def test_an_urgent_message_is_handed_over_to_the_orm_path(
    app: App, fake_api: FakeBotAPI, outcomes: list[lean.Outcome]
) -> None:
    student = TgUser(7301, "Nurlan", language_code="ru")
    case = await student_opens_case(app, fake_api, student, ORDINARY)
    start = len(fake_api.calls)
    fake_api.text_message(student, URGENT)
    await next_to(fake_api, student.id, start, "111")  # the urgent reply, with the numbers
    assert outcomes[-1] is lean.Outcome.HANDOVER
    stored = await case_by_id(app, case.id)
    assert stored.priority == Priority.URGENT and stored.message_count == 2


async def test_nothing_is_written_before_a_handover(app: App, fake_api: FakeBotAPI) -> None:
    """Handed over after the read: the transaction holds no change of the lean path's."""
    student = TgUser(7401, "Aida", language_code="ru")
    case = await student_opens_case(app, fake_api, student, ORDINARY)
    async with app.sessionmaker() as session, session.begin():
        message = lean.StudentText(10_000_002, student.id, student.id, 78, URGENT)
        assert await lean.submit(session, app.rt, message) is lean.Outcome.HANDOVER
        await session.rollback()
    assert await _count(app, CaseMessage, CaseMessage.case_id == case.id) == 1
    async with app.sessionmaker() as session:
        row = await session.scalar(select(Student).where(Student.active_case_id == case.id))
        assert row is not None and row.window_count == 1  # the first message only
