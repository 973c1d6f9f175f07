"""What must survive a restart does: the student's language, the psychologist's active case
and a conversation step (a poster order waiting for its classroom list) live in the
database, not in the memory of the process. And long polling confirms an update only
after it was handled: the update a bot was in the middle of when it went away is
delivered again to the next one, and handled once."""

from __future__ import annotations

import asyncio
from typing import Any

from aiogram import BaseMiddleware
from sqlalchemy import func, select

from bot.app import App
from bot.config import Settings
from bot.db.models import Case, CaseMessage, Member
from bot.domain import Role
from fake_telegram import FakeBotAPI, TgUser
from tests.conftest import FakeClock, running_app
from tests.faults.support import (
    case_of,
    command,
    eventually,
    psychologist,
    sent_to,
    settled,
    stored_texts,
)
from tests.queue_helpers import join, next_to, seed_places


async def _step_of(app: App, user: TgUser) -> str:
    async with app.sessionmaker() as session:
        member = await session.scalar(
            select(Member).where(Member.pseudonym == app.rt.vault.pseudonyms.member_id(user.id))
        )
        assert member is not None
        return member.step


async def test_language_active_case_and_a_poster_order_survive_a_restart(
    settings: Settings, fake_api: FakeBotAPI, clock: FakeClock
):
    student = TgUser(7701, "Aruzhan", language_code="ru")
    psy = TgUser(7791, "Psy")
    staff = TgUser(7781, "Staff", language_code="ru")
    async with running_app(settings, clock) as app:
        places = await seed_places(app)
        await join(app, fake_api, staff, Role.STAFF, school=places.school)
        await psychologist(app, psy)
        start = len(fake_api.calls)
        command(fake_api, student, "/start")
        await next_to(fake_api, student.id, start, "111")
        fake_api.callback_query(student, "lang:kk")  # Kazakh, not Telegram's Russian
        fake_api.text_message(student, "маған көмек керек")
        await settled(app, fake_api)
        case = await case_of(app, student)
        command(fake_api, psy, f"/take {case.code}")
        start = len(fake_api.calls)
        command(fake_api, staff, "/posters")
        fake_api.callback_query(staff, "pst:l:ky,ru")
        fake_api.callback_query(staff, "pst:p:ky,ru:a3")
        await next_to(fake_api, staff.id, start, "5-11")  # now the classroom list is awaited
        await settled(app, fake_api)
        assert await _step_of(app, staff) == "posters:ky,ru:a3"
        received_kk = app.rt.tr("kk", "Received ✓")
        assert received_kk != app.rt.tr("ru", "Received ✓")

    async with running_app(settings, clock) as app:  # a new process: nothing in memory
        start = len(fake_api.calls)
        fake_api.text_message(student, "рахмет, күтемін")
        ack = await next_to(fake_api, student.id, start)
        assert ack.text == received_kk  # the language chosen before the restart
        fake_api.text_message(psy, "Мен сені тыңдап отырмын")  # goes to the active case
        await fake_api.wait_for_send(student.id, "Мен сені тыңдап отырмын", start=start)
        fake_api.text_message(staff, "5А, 5Б")  # the order goes on where it stopped
        document = await fake_api.wait_for(
            lambda c: c.chat_id == staff.id and c.method.lower() == "senddocument", 60, start=start
        )
        assert document.ok
        await settled(app, fake_api)
        assert await _step_of(app, staff) == ""
        assert await stored_texts(app, case.id) == ["маған көмек керек", "рахмет, күтемін"]
        assert await stored_texts(app, case.id, author="psychologist") == [
            "Мен сені тыңдап отырмын"
        ]


class HoldForever(BaseMiddleware):
    """Inside the update's transaction: the handler ran, the bot goes away before commit."""

    def __init__(self) -> None:
        self.handled = asyncio.Event()

    async def __call__(self, handler: Any, event: Any, data: dict[str, Any]) -> Any:
        result = await handler(event, data)
        self.handled.set()
        await asyncio.Event().wait()
        return result


async def test_polling_confirms_an_update_only_after_it_was_handled(
    settings: Settings, fake_api: FakeBotAPI, clock: FakeClock
):
    student = TgUser(7702, "Bekzat", language_code="ru")
    hold = HoldForever()
    async with running_app(settings, clock) as app:
        app.dispatcher.update.outer_middleware(hold)  # registered last: inside the transaction
        fake_api.text_message(student, "меня обижают в классе")
        await asyncio.wait_for(hold.handled.wait(), 10)
        polls = fake_api.polls
        await asyncio.sleep(1.5)  # longer than a long poll: the bot does not ask again
        assert fake_api.polls == polls
        assert fake_api.pending_updates == 1  # Telegram still holds it
    # The bot went away mid-update: its transaction rolled back, nothing was said.
    assert sent_to(fake_api, student.id) == []
    assert fake_api.pending_updates == 1

    async with running_app(settings, clock) as app:
        await settled(app, fake_api)
        case = await case_of(app, student)
        assert await stored_texts(app, case.id) == ["меня обижают в классе"]
        async with app.sessionmaker() as session:
            assert await session.scalar(select(func.count()).select_from(Case)) == 1
            assert await session.scalar(select(func.count()).select_from(CaseMessage)) == 1

        async def answered_once() -> bool:
            return len(sent_to(fake_api, student.id)) == 1

        await eventually(answered_once, what="one acknowledgement")
