"""The audit log inside the running bot: checkpoints go to the file and, once a period, their
digest to the supervisors; `/forget` leaves one audit row that names no case."""

from __future__ import annotations

from sqlalchemy import select

from bot.app import App
from bot.db.models import AuditEntry, CaseMessage
from bot.domain import Author, Role
from bot.services.security import audit, audit_checkpoints, audit_keys
from fake_telegram import FakeBotAPI, TgUser
from tests.conftest import FakeClock
from tests.queue_helpers import command, join, seed_places, student_case


async def test_checkpoint_digest_reaches_every_supervisor_once_a_period(
    app: App, fake_api: FakeBotAPI, clock: FakeClock
) -> None:
    places = await seed_places(app)
    boss, other = TgUser(7701, "Boss", language_code="ru"), TgUser(7702, "B2", language_code="kk")
    await join(app, fake_api, boss, Role.SUPERVISOR, region=places.region)
    await join(app, fake_api, other, Role.SUPERVISOR, region=places.kz_region)
    keyring = audit_keys.load(app.settings)
    path = audit_checkpoints.checkpoint_path(app.settings)
    lines_before = len(path.read_text().splitlines())  # the worker's checkpoint at start

    start = len(fake_api.calls)
    slot, queued = await audit_checkpoints.checkpoint_due(app.sessionmaker, app.rt, keyring, -1)
    assert queued == 2
    app.sender.poke()
    checkpoint = audit_checkpoints.read(path, keyring).checkpoints[-1]
    ru = await fake_api.wait_for_send(boss.id, checkpoint.short_digest, start=start)
    assert "журнала аудита" in (ru.text or "") and "trustline audit checkpoints" in (ru.text or "")
    kk = await fake_api.wait_for_send(other.id, checkpoint.short_digest, start=start)
    assert "Аудит журналының" in (kk.text or "")

    # The next interval, the same day: a line in the file, no message.
    clock.advance(minutes=app.settings.audit_checkpoint_minutes)
    next_slot, queued = await audit_checkpoints.checkpoint_due(
        app.sessionmaker, app.rt, keyring, slot
    )
    assert next_slot == slot + 1 and queued == 0
    # The same interval again: nothing at all.
    assert await audit_checkpoints.checkpoint_due(
        app.sessionmaker, app.rt, keyring, next_slot
    ) == (next_slot, 0)
    found = audit_checkpoints.read(path, keyring)
    assert not found.problems and len(found.checkpoints) == lines_before + 2
    # A day later the digest goes out again.
    clock.advance(hours=app.settings.audit_digest_hours)
    assert (await audit_checkpoints.checkpoint_due(app.sessionmaker, app.rt, keyring, slot))[
        1
    ] == 2
    async with app.sessionmaker() as session:
        sent = (
            await session.scalars(
                select(AuditEntry.case_code).where(AuditEntry.event == "audit_digest_sent")
            )
        ).all()
        assert sent == [None, None]
        found = audit_checkpoints.read(path, keyring)
        assert (await audit.verify(session, keyring, found.checkpoints)).ok


async def test_forget_leaves_one_audit_row_without_codes(app: App, fake_api: FakeBotAPI) -> None:
    user = TgUser(7711, "Aigul", language_code="ru")
    fake_api.text_message(user, "мне плохо")
    await fake_api.wait_for(lambda c: c.chat_id == user.id and c.method == "sendMessage")
    first = await student_case(app, user)
    command(fake_api, user, "/new")
    fake_api.text_message(user, "и ещё одно")
    await fake_api.wait_for_count(lambda c: c.chat_id == user.id and c.is_send, 3)
    second = await student_case(app, user)
    assert second.id != first.id
    async with app.sessionmaker() as session:
        ids = (
            await session.scalars(
                select(CaseMessage.source_message_id).where(
                    CaseMessage.case_id.in_((first.id, second.id))
                )
            )
        ).all()
        assert len(ids) == 2 and all(ids)  # stored while the student is linked
        before = (await session.scalars(select(AuditEntry.id))).all()

    start = len(fake_api.calls)
    fake_api.callback_query(user, "forget:yes")
    await fake_api.wait_for(lambda c: c.chat_id == user.id and c.is_send, start=start)
    async with app.sessionmaker() as session:
        rows = (
            await session.scalars(select(AuditEntry).where(AuditEntry.id.not_in(before)))
        ).all()
        assert [(r.event, r.case_code, r.detail) for r in rows] == [("student_forgot", None, "{}")]
        for code in (first.code, second.code):
            assert all(code not in (r.detail + (r.case_code or "")) for r in rows)
        kept = (
            await session.scalars(
                select(CaseMessage.source_message_id).where(
                    CaseMessage.case_id.in_((first.id, second.id)),
                    CaseMessage.author == Author.STUDENT,
                )
            )
        ).all()
        assert kept == [None, None]
        assert (await audit.verify(session)).ok
