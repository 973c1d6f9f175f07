"""The Bot API misbehaves while students and psychologists talk: bursts of 429 and 5xx,
requests that hang until the bot gives up. Nothing is lost and nothing arrives twice."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

from sqlalchemy import select

from bot.app import App
from bot.db.models import OutboxMessage
from fake_telegram import FakeBotAPI, TgUser
from tests.conftest import FakeClock
from tests.faults.support import case_of, command, psychologist, settled, stored_texts

PAIRS = 8
ROUNDS = 4


async def test_bursts_of_429_500_and_timeouts_lose_and_repeat_nothing(
    app: App, fake_api: FakeBotAPI, clock: FakeClock
):
    fake_api.rate_limits(global_per_s=30, per_chat_per_s=1)
    app.sender.send_timeout = 1  # a held request is given up on after a second
    students = [TgUser(3100 + i, f"S{i}", language_code="ru") for i in range(PAIRS)]
    psys = [TgUser(3900 + i, f"P{i}") for i in range(PAIRS)]
    for user, psy in zip(students, psys, strict=True):
        await psychologist(app, psy)
        fake_api.text_message(user, f"{user.first_name}-0")
    await settled(app, fake_api, timeout=30)
    for user, psy in zip(students, psys, strict=True):
        command(fake_api, psy, f"/take {(await case_of(app, user)).code}")
    await settled(app, fake_api, timeout=30)

    rng = random.Random(20261123)
    stop = asyncio.Event()

    async def misbehave() -> None:
        """Faults in bursts, and time moving on so that backoffs pass quickly."""
        while not stop.is_set():
            burst = rng.choice(["500", "502", "429", "hang", "calm"])
            n = rng.randint(2, 8)
            if burst == "429":
                fake_api.fail_next(n, 429, retry_after=1)
            elif burst == "hang":
                fake_api.delay(1.5, n=n)
            elif burst != "calm":
                fake_api.fail_next(n, int(burst))
            await asyncio.sleep(rng.uniform(0.2, 0.8))
            clock.advance(seconds=3)
            app.sender.poke()

    chaos = asyncio.create_task(misbehave())
    try:
        for round_ in range(1, ROUNDS + 1):
            for user, psy in zip(students, psys, strict=True):
                fake_api.text_message(user, f"{user.first_name}-{round_}")
                fake_api.text_message(psy, f"{psy.first_name}-ответ-{round_}")
            await asyncio.sleep(0.5)
        await asyncio.sleep(2)
    finally:
        stop.set()
        await chaos
    fake_api.delay(0)
    await _drain(app, fake_api, clock)

    failed = (
        fake_api.too_many_requests
        + fake_api.dropped_requests
        + len([c for c in fake_api.calls if c.status >= 500])
    )
    assert failed > 20  # the faults really happened
    for user, psy in zip(students, psys, strict=True):
        case = await case_of(app, user)
        sent = [f"{user.first_name}-{r}" for r in range(ROUNDS + 1)]
        answers = [f"{psy.first_name}-ответ-{r}" for r in range(1, ROUNDS + 1)]
        assert await stored_texts(app, case.id) == sent
        assert await stored_texts(app, case.id, author="psychologist") == answers
        to_student = Counter(fake_api.sent_texts(user.id))
        assert all(to_student[f"💬 Психолог:\n{a}"] == 1 for a in answers), to_student
        assert to_student["Получено ✓"] == ROUNDS, to_student
        # and the first acknowledgement and the news that a psychologist took the case
        assert sum(to_student.values()) == 2 + 2 * ROUNDS, to_student
        relayed = Counter(
            said
            for text in fake_api.sent_texts(psy.id)
            for line in text.split("\n")
            # a relay is the words alone; the history shown on /take "[07.12 10:31] Ученик: …"
            for said in [line.rsplit(": ", 1)[-1] if line.startswith("[") else line]
            if said in sent
        )
        # The first came before the /take: the pool's card carries no words, the history the
        # taker is shown does (bot/services/routing/queue.claim).
        assert relayed == Counter(sent), relayed
    async with app.sessionmaker() as session:
        statuses = Counter((await session.scalars(select(OutboxMessage.status))).all())
    assert set(statuses) == {"sent"}, statuses


async def _drain(app: App, fake_api: FakeBotAPI, clock: FakeClock) -> None:
    """Let time pass until every update is handled and every row delivered."""
    for _ in range(240):
        try:
            await settled(app, fake_api, timeout=0.5)
            return
        except AssertionError:
            clock.advance(seconds=30)
            app.sender.poke()
    await settled(app, fake_api, timeout=1)
