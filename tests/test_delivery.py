"""Incoming updates: committed before anything is said, idempotent, retried in place; the
outbox: per-chat order, fairness, limits, retries and the documented crash window."""

from __future__ import annotations

import asyncio
import copy
import time
from datetime import timedelta
from typing import Any

import pytest
from aiogram import BaseMiddleware
from sqlalchemy import func, select, update

from bot.app import App
from bot.db.models import Case, CaseMessage, OutboxMessage, Student
from bot.delivery import outbox
from bot.delivery.ratelimit import RateLimiter
from bot.services.casework import cases, codes
from fake_telegram import FakeBotAPI, TgUser
from tests.conftest import FakeClock
from tests.faults.support import (
    case_of,
    command,
    eventually,
    psychologist,
    sent_to,
    stored_texts,
    unsent_rows,
)

UNREACHABLE = (
    "⚠️ {code}: the student can no longer be reached (they blocked the bot or left). Nothing "
    "is lost; the case stays with you."
)


class HoldCommit(BaseMiddleware):
    """Runs inside the update's transaction: after the handler, waits for the test."""

    def __init__(self) -> None:
        self.handled = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, handler: Any, event: Any, data: dict[str, Any]) -> Any:
        result = await handler(event, data)
        self.handled.set()
        await self.release.wait()
        return result


# Asked once a day when the triage reads a message as high risk (bot.services.casework.safety); it
# is not an acknowledgement, so the counts of answers below leave it out.
SAFETY_QUESTION = (
    "Can I ask you something important? Are you in danger right now, or are "
    "you thinking of hurting yourself?"
)


def answers_to(app: App, fake_api: FakeBotAPI, chat_id: int) -> list[Any]:
    question = app.rt.tr("ru", SAFETY_QUESTION)
    return [c for c in fake_api.calls_to(chat_id) if c.text != question]


async def count(app: App, model: Any) -> int:
    async with app.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_nothing_is_said_before_the_update_commits(app: App, fake_api: FakeBotAPI):
    hold = HoldCommit()
    app.dispatcher.update.outer_middleware(hold)  # registered last: runs inside the transaction
    user = TgUser(6001, "Aidana", language_code="ky")
    command(fake_api, user, "/start")
    await asyncio.wait_for(hold.handled.wait(), 5)
    assert fake_api.calls_to(user.id) == []  # the greeting waits for the commit
    hold.release.set()
    await fake_api.wait_for_send(user.id, "111")
    assert await count(app, Student) == 1

    hold.handled.clear()
    hold.release.clear()
    start = len(fake_api.calls)
    fake_api.text_message(user, "мени сабакта урушат")
    await asyncio.wait_for(hold.handled.wait(), 5)
    app.sender.poke()
    await asyncio.sleep(0.2)  # the sender had its chance
    assert sent_to(fake_api, user.id, start) == []  # no acknowledgement before the commit
    hold.release.set()
    await fake_api.wait_for(lambda c: c.chat_id == user.id and c.is_send, start=start)
    assert await count(app, CaseMessage) == 1


async def test_a_failed_update_says_nothing_and_is_tried_again(
    app: App, fake_api: FakeBotAPI, monkeypatch: pytest.MonkeyPatch
):
    real = cases.submit_student_message
    failures = []

    async def fails_once(*args: Any, **kwargs: Any) -> Any:
        result = await real(*args, **kwargs)
        if not failures:
            failures.append(1)
            raise RuntimeError("a bug after the message was stored")
        return result

    monkeypatch.setattr(cases, "submit_student_message", fails_once)
    user = TgUser(6002, "Bolot", language_code="ru")
    fake_api.text_message(user, "мне страшно идти в школу")
    await fake_api.wait_for(lambda c: c.chat_id == user.id and c.is_send)
    await eventually(lambda: _drained(app), what="outbox drained")
    assert failures == [1]
    case = await case_of(app, user)
    assert await stored_texts(app, case.id) == ["мне страшно идти в школу"]
    assert len(answers_to(app, fake_api, user.id)) == 1  # one acknowledgement, from the commit


async def _drained(app: App) -> bool:
    return await unsent_rows(app) == 0


async def test_a_redelivered_update_makes_no_second_message(app: App, fake_api: FakeBotAPI):
    user = TgUser(6003, "Dana", language_code="ru")
    update = fake_api.text_message(user, "первое сообщение")
    await fake_api.wait_for(lambda c: c.chat_id == user.id and c.is_send)
    fake_api.push_update(copy.deepcopy(update))  # Telegram delivers it again, same id
    fake_api.text_message(user, "второе сообщение")
    question = app.rt.tr("ru", SAFETY_QUESTION)
    await fake_api.wait_for_count(
        lambda c: c.chat_id == user.id and c.is_send and c.text != question, 2
    )
    await eventually(lambda: _drained(app), what="outbox drained")
    case = await case_of(app, user)
    assert await stored_texts(app, case.id) == ["первое сообщение", "второе сообщение"]
    assert len(answers_to(app, fake_api, user.id)) == 2


async def test_a_database_outage_holds_the_line_instead_of_dropping(
    app: App, fake_api: FakeBotAPI, monkeypatch: pytest.MonkeyPatch
):
    from sqlalchemy.exc import OperationalError

    real = cases.submit_student_message
    outage = {"left": 3}

    async def unreachable(*args: Any, **kwargs: Any) -> Any:
        if outage["left"]:
            outage["left"] -= 1
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("down"))
        return await real(*args, **kwargs)

    monkeypatch.setattr(cases, "submit_student_message", unreachable)
    user = TgUser(6004, "Erlan", language_code="ru")
    fake_api.text_message(user, "пожалуйста ответьте")
    await fake_api.wait_for(lambda c: c.chat_id == user.id and c.is_send, timeout=10)
    assert outage["left"] == 0  # three failed attempts, then the one that stored it
    case = await case_of(app, user)
    assert await stored_texts(app, case.id) == ["пожалуйста ответьте"]


# --- the outbox ------------------------------------------------------------------------------


async def _claimed_case(app: App, fake_api: FakeBotAPI, user: TgUser, psy: TgUser) -> Case:
    """A student's case, taken by a psychologist through /take."""
    await psychologist(app, psy)
    fake_api.text_message(user, "помогите")
    await fake_api.wait_for(lambda c: c.chat_id == user.id and c.is_send)
    case = await case_of(app, user)
    start = len(fake_api.calls)
    command(fake_api, psy, f"/take {case.code}")
    await fake_api.wait_for(lambda c: c.chat_id == psy.id and c.is_send, start=start)
    return await case_of(app, user)


async def test_a_blocked_student_is_marked_and_the_psychologist_told_then_unblocks(
    app: App, fake_api: FakeBotAPI
):
    user, psy = TgUser(6010, "Gulnara", language_code="ru"), TgUser(6910, "Psy")
    case = await _claimed_case(app, fake_api, user, psy)
    await eventually(lambda: _drained(app), what="outbox drained")
    fake_api.block(user.id)
    start = len(fake_api.calls)
    command(fake_api, psy, "ответ, который не дойдёт")
    await fake_api.wait_for(lambda c: c.status == 403, start=start, include_failed=True)
    told = app.rt.tr("ru", UNREACHABLE, code=codes.display(case.code))
    await fake_api.wait_for_send(psy.id, told, start=start)
    async with app.sessionmaker() as session:
        stored = await session.get(Case, case.id)
        assert stored is not None and stored.unreachable
        statuses = (
            await session.scalars(
                select(OutboxMessage.status).where(OutboxMessage.case_id == case.id)
            )
        ).all()
        assert "blocked" in statuses
    assert [c.text for c in sent_to(fake_api, psy.id, start)].count(told) == 1

    fake_api.unblock(user.id)  # they come back and write again: everything works
    start = len(fake_api.calls)
    fake_api.text_message(user, "я вернулся")
    await fake_api.wait_for(lambda c: c.chat_id == user.id and c.is_send, start=start)
    command(fake_api, psy, "рада, что ты здесь")
    await fake_api.wait_for_send(user.id, "рада, что ты здесь", start=start)
    async with app.sessionmaker() as session:
        stored = await session.get(Case, case.id)
        assert stored is not None and not stored.unreachable


async def _enqueue(app: App, case_id: int, texts: list[str], *, now: Any = None) -> None:
    async with app.sessionmaker() as session, session.begin():
        case = await session.get(Case, case_id)
        assert case is not None
        for i, text in enumerate(texts):
            at = (now or app.rt.now()) + timedelta(microseconds=i)
            outbox.enqueue(session, app.rt.vault, case, "sendMessage", {"text": text}, now=at)
    app.sender.poke()


async def test_429_retry_after_is_honoured(app: App, fake_api: FakeBotAPI):
    user = TgUser(6020, "Islam", language_code="ru")
    fake_api.text_message(user, "привет")
    await fake_api.wait_for(lambda c: c.chat_id == user.id and c.is_send)
    case = await case_of(app, user)
    start = len(fake_api.calls)
    fake_api.fail_next(1, 429, retry_after=2, methods=["sendMessage"])
    await _enqueue(app, case.id, ["после паузы"])
    delivered = await fake_api.wait_for_send(user.id, "после паузы", timeout=10, start=start)
    refused = [c for c in fake_api.calls[start:] if c.status == 429]
    assert len(refused) == 1
    assert delivered.at - refused[0].at >= 2.0 - 0.05
    assert fake_api.sent_texts(user.id).count("после паузы") == 1


async def test_server_errors_back_off_exponentially_and_deliver_once(
    app: App, fake_api: FakeBotAPI, clock: FakeClock
):
    user = TgUser(6021, "Jyldyz", language_code="ru")
    fake_api.text_message(user, "привет")
    await fake_api.wait_for(lambda c: c.chat_id == user.id and c.is_send)
    case = await case_of(app, user)
    await eventually(lambda: _drained(app), what="outbox drained")
    fake_api.fail_next(3, 500, methods=["sendMessage"])
    await _enqueue(app, case.id, ["сквозь ошибки"])
    waits = []
    for attempt in range(1, 4):
        row = await _wait_for_attempt(app, case.id, attempt)
        waits.append((row.not_before - clock()).total_seconds())
        assert row.status == "pending" and row.error == "TelegramServerError"
        clock.advance(seconds=400)  # past any backoff: the sender may try again now
        app.sender.poke()
    await fake_api.wait_for_send(user.id, "сквозь ошибки", timeout=10)
    # about 1, 2 and 4 seconds (±20 % jitter), measured from a clock read a bit later
    assert 0.5 < waits[0] <= 1.2 and 1.3 < waits[1] <= 2.4 and 2.9 < waits[2] <= 4.8
    assert fake_api.sent_texts(user.id).count("сквозь ошибки") == 1


async def _wait_for_attempt(app: App, case_id: int, attempts: int) -> OutboxMessage:
    found: list[OutboxMessage] = []

    async def check() -> bool:
        async with app.sessionmaker() as session:
            row = await session.scalar(
                select(OutboxMessage).where(
                    OutboxMessage.case_id == case_id,
                    OutboxMessage.attempts == attempts,
                    OutboxMessage.status == "pending",
                    OutboxMessage.lease_until.is_(None),
                )
            )
            if row is not None:
                found.append(row)
            return row is not None

    await eventually(check, what=f"attempt {attempts} failed")
    return found[0]


async def test_a_request_that_times_out_is_sent_again_once(
    app: App, fake_api: FakeBotAPI, clock: FakeClock
):
    user = TgUser(6022, "Kanat", language_code="ru")
    fake_api.text_message(user, "привет")
    await fake_api.wait_for(lambda c: c.chat_id == user.id and c.is_send)
    case = await case_of(app, user)
    await eventually(lambda: _drained(app), what="outbox drained")
    app.sender.send_timeout = 1
    fake_api.delay(3, n=1, methods=["sendMessage"])  # the bot gives up after 1 s
    await _enqueue(app, case.id, ["после таймаута"])
    await _wait_for_attempt(app, case.id, 1)
    clock.advance(seconds=10)
    app.sender.poke()
    await fake_api.wait_for_send(user.id, "после таймаута", timeout=10)
    assert fake_api.dropped_requests == 1
    assert fake_api.sent_texts(user.id).count("после таймаута") == 1


QUEUED = 60


async def test_one_chat_in_order_and_a_long_queue_does_not_hold_up_others(
    app: App, fake_api: FakeBotAPI
):
    busy, quiet = (
        TgUser(6030, "Busy", language_code="ru"),
        TgUser(6031, "Quiet", language_code="ru"),
    )
    for user in (busy, quiet):
        fake_api.text_message(user, "привет")
        await fake_api.wait_for(lambda c, u=user: c.chat_id == u.id and c.is_send)
    await eventually(lambda: _drained(app), what="outbox drained")
    busy_case, quiet_case = await case_of(app, busy), await case_of(app, quiet)
    app.sender.limiter = RateLimiter(1000, 1000)  # only the order and fairness matter here
    start = len(fake_api.calls)
    await _enqueue(app, busy_case.id, [f"b{i:03d}" for i in range(QUEUED)])
    await _enqueue(app, quiet_case.id, ["для тихого"])
    await fake_api.wait_for_send(quiet.id, "для тихого", timeout=10, start=start)
    sent_to_busy = len(fake_api.calls_to(busy.id)) - 1
    assert sent_to_busy < QUEUED // 2  # the quiet chat did not wait for the busy one's queue
    await fake_api.wait_for_count(lambda c: c.chat_id == busy.id, QUEUED, timeout=60, start=start)
    assert fake_api.sent_texts(busy.id)[1:] == [f"b{i:03d}" for i in range(QUEUED)]


async def test_sends_stay_within_telegram_limits(app: App, fake_api: FakeBotAPI):
    fake_api.rate_limits(global_per_s=30, per_chat_per_s=1)
    users = [TgUser(6100 + i, f"U{i}", language_code="ru") for i in range(40)]
    for user in users:
        fake_api.text_message(user, "привет")
    await fake_api.wait_for_count(
        lambda c: c.is_send and c.chat_id in {u.id for u in users}, 40, timeout=20
    )
    one = users[0]
    start = len(fake_api.calls)
    await _enqueue(app, (await case_of(app, one)).id, ["a", "b", "c"])
    await fake_api.wait_for_count(
        lambda c: c.chat_id == one.id and c.is_send, 3, timeout=10, start=start
    )
    assert fake_api.too_many_requests == 0


async def test_a_row_left_sending_by_a_dead_sender_is_sent_again(
    app: App, fake_api: FakeBotAPI, clock: FakeClock
):
    """The documented crash window: at-least-once, never lost."""
    user = TgUser(6040, "Lazzat", language_code="ru")
    fake_api.text_message(user, "привет")
    await fake_api.wait_for(lambda c: c.chat_id == user.id and c.is_send)
    case = await case_of(app, user)
    await eventually(lambda: _drained(app), what="outbox drained")
    now = app.rt.now()
    async with app.sessionmaker() as session, session.begin():
        row = outbox.enqueue(
            session, app.rt.vault, case, "sendMessage", {"text": "в окне"}, now=now
        )
        row.status, row.attempts, row.lease_until = "sending", 1, now + timedelta(seconds=60)
        row_id = row.id
    app.sender.poke()
    await asyncio.sleep(0.3)  # the lease still holds: a live sender may be sending it
    assert "в окне" not in fake_api.sent_texts(user.id)
    clock.advance(seconds=61)
    app.sender.poke()
    await fake_api.wait_for_send(user.id, "в окне", timeout=5)

    async def recorded() -> bool:
        async with app.sessionmaker() as session:
            stored = await session.get(OutboxMessage, row_id)
            return stored is not None and stored.status == "sent" and stored.payload_enc == b""

    await eventually(recorded, what="the send recorded")


async def test_a_stale_lease_cannot_send(app: App, fake_api: FakeBotAPI):
    """A sender whose lease ran out and was taken over fails its fence and sends nothing."""
    from aiogram.methods import SendMessage

    from bot.delivery.sender import LEASE, Claimed

    user = TgUser(6041, "Madi", language_code="ru")
    fake_api.text_message(user, "привет")
    await fake_api.wait_for(lambda c: c.chat_id == user.id and c.is_send)
    case = await case_of(app, user)
    await eventually(lambda: _drained(app), what="outbox drained")
    app.sender.stop()
    async with app.sessionmaker() as session, session.begin():
        row = outbox.enqueue(
            session, app.rt.vault, case, "sendMessage", {"text": "чужое"}, now=app.rt.now()
        )
        row_id = row.id
    async with app.sessionmaker() as session, session.begin():
        await session.execute(
            update(OutboxMessage).where(OutboxMessage.id == row_id).values(attempts=2)
        )  # claimed again by someone else
    # Its claim was made a lease ago: before sending, the sender renews it, fenced by
    # the token, and finds the row taken over.
    stale = Claimed(
        row_id,
        case.id,
        None,
        token=1,
        request=SendMessage(chat_id=user.id, text="чужое"),
        method="sendMessage",
        claimed_at=time.monotonic() - LEASE.total_seconds(),
    )
    outcome = await app.sender._deliver(stale)
    assert outcome.status == "lost"
    assert "чужое" not in fake_api.sent_texts(user.id)


async def test_a_row_scheduled_for_later_does_not_block_its_chat(app: App, fake_api: FakeBotAPI):
    user = TgUser(6042, "Nurlan", language_code="ru")
    fake_api.text_message(user, "привет")
    await fake_api.wait_for(lambda c: c.chat_id == user.id and c.is_send)
    case = await case_of(app, user)
    now = app.rt.now()
    async with app.sessionmaker() as session, session.begin():
        stored = await session.get(Case, case.id)
        assert stored is not None
        outbox.enqueue(
            session,
            app.rt.vault,
            stored,
            "sendMessage",
            {"text": "завтра"},
            now=now,
            not_before=now + timedelta(days=1),
        )
        outbox.enqueue(
            session,
            app.rt.vault,
            stored,
            "sendMessage",
            {"text": "сейчас"},
            now=now + timedelta(microseconds=1),
        )
    app.sender.poke()
    await fake_api.wait_for_send(user.id, "сейчас", timeout=5)
    assert "завтра" not in fake_api.sent_texts(user.id)


async def test_a_send_noted_by_a_dead_bot_is_recorded_not_repeated(
    app: App, fake_api: FakeBotAPI, clock: FakeClock
):
    """Telegram accepted it, the bot noted it in its file and died before the database
    heard of it: the next bot in the same directory records it and does not send it."""
    from pathlib import Path

    from bot.delivery.sentlog import SentNote

    user = TgUser(6043, "Olzhas", language_code="ru")
    fake_api.text_message(user, "привет")
    await fake_api.wait_for(lambda c: c.chat_id == user.id and c.is_send)
    case = await case_of(app, user)
    await eventually(lambda: _drained(app), what="outbox drained")
    now = app.rt.now()
    async with app.sessionmaker() as session, session.begin():
        row = outbox.enqueue(
            session, app.rt.vault, case, "sendMessage", {"text": "уже ушло"}, now=now
        )
        row.status, row.attempts, row.lease_until = "sending", 3, now + timedelta(seconds=60)
        row_id = row.id
    dead = Path.cwd() / "trustline-sent-999999-deadbeef.log"  # nobody holds its lock
    dead.write_bytes(b"garbage line\n" + SentNote(row_id, 3, 77, None, None).line() + b"cut sho")
    await app.sender._apply_sent_notes()
    assert not dead.exists()
    clock.advance(seconds=61)  # the lease is long gone: only the note keeps it from repeating
    app.sender.poke()
    await asyncio.sleep(0.5)
    async with app.sessionmaker() as session:
        stored = await session.get(OutboxMessage, row_id)
        assert stored is not None and stored.status == "sent" and stored.payload_enc == b""
    assert "уже ушло" not in fake_api.sent_texts(user.id)
    assert list(Path.cwd().glob("trustline-sent-*.log"))  # the running bot's own, untouched


async def test_polling_skips_an_update_it_cannot_read_and_goes_on(
    app: App, fake_api: FakeBotAPI, recwarn: pytest.WarningsRecorder
):
    user = TgUser(6044, "Perizat", language_code="ru")
    fake_api.push_update({"message": {"message_id": "not a number", "chat": 5}})
    fake_api.push_update({"chat_boost_of_the_future": {"chat": {"id": user.id}}})
    fake_api.text_message(user, "после непонятного")
    await fake_api.wait_for(lambda c: c.chat_id == user.id and c.is_send, timeout=10)
    case = await case_of(app, user)
    assert await stored_texts(app, case.id) == ["после непонятного"]
    assert fake_api.pending_updates == 0 or fake_api.polls > 0
    assert not recwarn.list
