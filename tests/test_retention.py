"""Retention: closed cases are crypto-shredded after their period, counts survive, update
ids and delivered outbox rows are forgotten; /forget unlinks a student for good."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.app import App
from bot.cli import main
from bot.config import Settings
from bot.db.models import (
    AuditEntry,
    Case,
    CaseMessage,
    Member,
    OutboxMessage,
    ProcessedUpdate,
    Relay,
    Student,
)
from bot.delivery import outbox
from bot.domain import CaseStatus
from bot.services.routing import queue
from bot.services.security import audit, retention
from bot.workers import background_tasks
from fake_telegram import FakeBotAPI, TgUser
from tests.conftest import FakeClock
from tests.faults.support import case_of, command, psychologist, settled, stored_texts


async def _conversation(app: App, fake_api: FakeBotAPI, user: TgUser, psy: TgUser) -> Case:
    """A student writes (text and a photo), a psychologist takes the case, answers, notes."""
    member = await psychologist(app, psy)
    fake_api.text_message(user, "меня бьют дома")
    await fake_api.wait_for(lambda c: c.chat_id == user.id and c.is_send)
    case = await case_of(app, user)
    command(fake_api, psy, f"/take {case.code}")
    await settled(app, fake_api)
    fake_api.photo_message(user, caption="вот синяк")
    fake_api.text_message(psy, "Ты не виноват. Расскажи, что случилось?")
    command(fake_api, psy, "/note позвонить в 111 вместе")
    await settled(app, fake_api)
    async with app.sessionmaker() as session, session.begin():
        holder = await session.get(Member, member.id)
        stored = await session.get(Case, case.id)
        assert holder is not None and stored is not None
        await queue.close(session, app.rt, holder, stored, "resolved")
    await settled(app, fake_api)
    return case


async def test_a_closed_case_is_shredded_after_its_period_and_counts_stay(
    app: App, fake_api: FakeBotAPI, clock: FakeClock
):
    user, psy = TgUser(9001, "Aibike", language_code="ru"), TgUser(9901, "Psy")
    case = await _conversation(app, fake_api, user, psy)
    other = TgUser(9002, "Baurzhan", language_code="ru")  # an open case is never shredded
    fake_api.text_message(other, "мне плохо")
    await settled(app, fake_api)
    open_case = await case_of(app, other)
    async with app.sessionmaker() as session:
        kinds_before = (
            await session.execute(
                select(CaseMessage.author, CaseMessage.kind)
                .where(CaseMessage.case_id == case.id)
                .order_by(CaseMessage.created_at)
            )
        ).all()
        assert await session.scalar(
            select(func.count()).select_from(Relay).where(Relay.case_id == case.id)
        )
    assert len(kinds_before) == 4  # text, photo, answer, note

    clock.advance(days=app.settings.retention_days - 1)
    report = await retention.run_retention(app.sessionmaker, app.rt)
    assert report.cases_shredded == 0  # not yet

    clock.advance(days=2)
    report = await retention.run_retention(app.sessionmaker, app.rt)
    assert report.cases_shredded == 1
    async with app.sessionmaker() as session:
        shredded = await session.get(Case, case.id)
        assert shredded is not None
        assert shredded.wrapped_key is None and shredded.kek_id is None
        assert shredded.chat_id_enc is None and shredded.signals_enc is None
        assert shredded.closing_note_enc is None and shredded.student_id is None
        assert shredded.shredded_at is not None
        # what statistics need stays
        assert (shredded.status, shredded.outcome) == (CaseStatus.CLOSED, "resolved")
        assert shredded.category and shredded.priority and shredded.closed_at
        assert shredded.message_count == 2 and shredded.first_answer_at is not None
        rows = (
            await session.scalars(
                select(CaseMessage)
                .where(CaseMessage.case_id == case.id)
                .order_by(CaseMessage.created_at)
            )
        ).all()
        assert [(m.author, m.kind) for m in rows] == [tuple(k) for k in kinds_before]
        assert all(
            m.body_enc is None and m.file_id_enc is None and m.source_message_id is None
            for m in rows
        )
        payloads = (
            await session.scalars(
                select(OutboxMessage.payload_enc).where(
                    (OutboxMessage.case_id == case.id) | (OutboxMessage.relay_case_id == case.id)
                )
            )
        ).all()
        assert all(p == b"" for p in payloads)  # delivered rows are even gone by now
        assert (
            await session.scalar(
                select(func.count()).select_from(Relay).where(Relay.case_id == case.id)
            )
            == 0
        )
        events = (
            await session.scalars(
                select(AuditEntry.event).where(AuditEntry.case_code == case.code)
            )
        ).all()
        assert "case_shredded" in events
        assert (await audit.verify(session)).ok
        still_open = await session.get(Case, open_case.id)
        assert still_open is not None and still_open.wrapped_key is not None
    assert await stored_texts(app, open_case.id) == ["мне плохо"]

    # A reply to an old relay now finds no case; the psychologist is told, nothing breaks.
    start = len(fake_api.calls)
    fake_api.text_message(
        psy, "/case " + case.code, entities=[{"type": "bot_command", "offset": 0, "length": 5}]
    )
    await settled(app, fake_api)
    assert all(c.status == 200 for c in fake_api.calls[start:])


async def test_pending_messages_of_a_shredded_case_are_never_sent(
    app: App, fake_api: FakeBotAPI, clock: FakeClock
):
    user, psy = TgUser(9003, "Cholpon", language_code="ru"), TgUser(9903, "Psy")
    case = await _conversation(app, fake_api, user, psy)
    app.sender.stop()  # a message waits in the outbox when the case expires
    await asyncio.sleep(0)
    clock.advance(days=app.settings.retention_days + 1)
    async with app.sessionmaker() as session, session.begin():
        stored = await session.get(Case, case.id)
        assert stored is not None
        row = outbox.enqueue(
            session,
            app.rt.vault,
            stored,
            "sendMessage",
            {"text": "слишком поздно"},
            now=app.rt.now(),
        )
        row_id = row.id
    await retention.run_retention(app.sessionmaker, app.rt)
    async with app.sessionmaker() as session:
        dropped = await session.get(OutboxMessage, row_id)
        assert dropped is not None and dropped.status == "dropped" and dropped.payload_enc == b""
    assert await app.sender.drain_once() == 0
    assert "слишком поздно" not in fake_api.sent_texts(user.id)
    # Never sent, it is still forgotten like the sent rows, a week on.
    clock.advance(days=8)
    await retention.run_retention(app.sessionmaker, app.rt)
    async with app.sessionmaker() as session:
        assert await session.get(OutboxMessage, row_id) is None


async def test_update_ids_and_delivered_rows_are_forgotten_after_days(
    app: App, fake_api: FakeBotAPI, clock: FakeClock
):
    user = TgUser(9004, "Dias", language_code="ru")
    fake_api.text_message(user, "привет")
    await settled(app, fake_api)
    async with app.sessionmaker() as session:
        seen = await session.scalar(select(func.count()).select_from(ProcessedUpdate))
        delivered = await session.scalar(select(func.count()).select_from(OutboxMessage))
    assert seen and delivered
    clock.advance(days=2)
    report = await retention.run_retention(app.sessionmaker, app.rt)
    assert (report.updates_forgotten, report.outbox_rows_purged) == (0, 0)
    clock.advance(days=6)
    report = await retention.run_retention(app.sessionmaker, app.rt)
    assert (report.updates_forgotten, report.outbox_rows_purged) == (seen, delivered)


async def test_retention_also_runs_inside_trustline_run(
    app: App, fake_api: FakeBotAPI, clock: FakeClock
):
    names = []
    for coro in background_tasks(app):
        names.append(coro.__qualname__)
        coro.close()
    assert "retention_worker" in names
    user, psy = TgUser(9005, "Elnura", language_code="ru"), TgUser(9905, "Psy")
    case = await _conversation(app, fake_api, user, psy)
    clock.advance(days=app.settings.retention_days + 1)
    worker = asyncio.create_task(retention.retention_worker(app.sessionmaker, app.rt))
    try:

        async def shredded() -> bool:
            async with app.sessionmaker() as session:
                stored = await session.get(Case, case.id)
                return stored is not None and stored.shredded_at is not None

        for _ in range(200):
            if await shredded():
                break
            await asyncio.sleep(0.05)
        assert await shredded()
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)


async def test_trustline_retention_run(
    app: App,
    fake_api: FakeBotAPI,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    user, psy = TgUser(9006, "Farida", language_code="ru"), TgUser(9906, "Psy")
    case = await _conversation(app, fake_api, user, psy)
    async with app.sessionmaker() as session, session.begin():
        stored = await session.get(Case, case.id)
        assert stored is not None and stored.closed_at is not None
        stored.closed_at -= timedelta(days=settings.retention_days + 1)
    monkeypatch.setenv("TRUSTLINE_DATABASE_URL", settings.database_url)
    assert settings.master_key is not None
    monkeypatch.setenv("TRUSTLINE_MASTER_KEY", settings.master_key.get_secret_value())
    code = await asyncio.to_thread(main, ["retention", "run"])
    assert code == 0
    assert "1 closed case older than" in capsys.readouterr().out
    async with app.sessionmaker() as session:
        stored = await session.get(Case, case.id)
        assert stored is not None and stored.wrapped_key is None


async def test_forget_unlinks_and_nothing_more_reaches_the_old_chat(
    app: App, fake_api: FakeBotAPI
):
    user, psy = TgUser(9007, "Gulzat", language_code="ru"), TgUser(9907, "Psy")
    await psychologist(app, psy)
    fake_api.text_message(user, "я хочу всё удалить")
    await settled(app, fake_api)
    case = await case_of(app, user)
    command(fake_api, psy, f"/take {case.code}")
    await settled(app, fake_api)
    app.sender.stop()  # an answer is still in the outbox when the student forgets
    await asyncio.sleep(0)
    fake_api.text_message(psy, "ответ до /forget")
    await eventually_no_pending(fake_api)
    fake_api.callback_query(user, "forget:yes")
    await eventually_no_pending(fake_api)
    async with app.sessionmaker() as session:
        stored = await session.get(Case, case.id)
        assert stored is not None and stored.chat_id_enc is None and stored.student_id is None
        assert await session.scalar(select(func.count()).select_from(Student)) == 0
    await app.sender.drain_once()
    assert "ответ до /forget" not in " ".join(fake_api.sent_texts(user.id))
    async with app.sessionmaker() as session:
        statuses = (
            await session.scalars(
                select(OutboxMessage.status).where(OutboxMessage.case_id == case.id)
            )
        ).all()
    assert "pending" not in statuses and "dropped" in statuses
    assert await stored_texts(app, case.id) == ["я хочу всё удалить"]  # kept for safety


async def eventually_no_pending(api: FakeBotAPI) -> None:
    for _ in range(300):
        if api.pending_updates == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("updates were not handled")
