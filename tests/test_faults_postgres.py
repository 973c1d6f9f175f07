"""PostgreSQL stops for ten seconds while students and psychologists write, then starts
again: the running bot recovers by itself, nothing is lost, nothing is sent twice.

This is the only test that stops the server (CI runs its own); the outage is exactly ten
seconds and the server is started again whatever happens."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections import Counter

import pytest
from sqlalchemy import select

from bot.app import App
from bot.db.models import OutboxMessage
from bot.delivery.ratelimit import RateLimiter
from fake_telegram import FakeBotAPI, TgUser
from tests.faults.support import case_of, command, psychologist, settled, stored_texts

OUTAGE_SECONDS = 10
PAIRS = 5
ROUNDS = 24


def _cluster(action: str) -> None:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action],
        check=True,
        capture_output=True,
        timeout=60,
    )


def _ready() -> bool:
    return (
        subprocess.run(
            ["pg_isready", "-h", "127.0.0.1", "-p", "5432", "-q"], check=False, timeout=10
        ).returncode
        == 0
    )


async def outage(seconds: float) -> None:
    await asyncio.to_thread(_cluster, "stop")
    started = time.monotonic()
    try:
        assert not await asyncio.to_thread(_ready)
        await asyncio.sleep(max(0.0, seconds - (time.monotonic() - started)))
    finally:
        await asyncio.to_thread(_cluster, "start")
        for _ in range(60):
            if await asyncio.to_thread(_ready):
                break
            await asyncio.sleep(0.5)


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_postgresql_down_for_ten_seconds_during_traffic(
    app: App, fake_api: FakeBotAPI, caplog: pytest.LogCaptureFixture
):
    assert shutil.which("pg_ctlcluster"), "this test stops and starts the local PostgreSQL"
    app.rt.settings.student_messages_per_minute = 1000  # every message acknowledged alone
    app.sender.limiter = RateLimiter(200, 20)  # Telegram's pace is tested elsewhere
    students = [TgUser(2100 + i, f"S{i}", language_code="ru") for i in range(PAIRS)]
    psys = [TgUser(2900 + i, f"P{i}") for i in range(PAIRS)]
    for user, psy in zip(students, psys, strict=True):
        await psychologist(app, psy)
        fake_api.text_message(user, f"{user.first_name}-0")
    await settled(app, fake_api, timeout=30)
    for user, psy in zip(students, psys, strict=True):
        command(fake_api, psy, f"/take {(await case_of(app, user)).code}")
    await settled(app, fake_api, timeout=30)

    async def traffic() -> None:
        for round_ in range(1, ROUNDS + 1):
            for user, psy in zip(students, psys, strict=True):
                fake_api.text_message(user, f"{user.first_name}-{round_}")
                fake_api.text_message(psy, f"{psy.first_name}-ответ-{round_}")
            await asyncio.sleep(1.0)

    flowing = asyncio.create_task(traffic())
    await asyncio.sleep(4)
    await outage(OUTAGE_SECONDS)  # traffic goes on all the while
    await flowing
    await settled(app, fake_api, timeout=120)
    waited = {
        r.getMessage().split(" ")[0]
        for r in caplog.records
        if "retry" in r.getMessage() or "failed" in r.getMessage()
    }
    assert {"update_retry", "outbox_claim_failed"} <= waited  # the outage was felt

    for user, psy in zip(students, psys, strict=True):
        case = await case_of(app, user)
        sent = [f"{user.first_name}-{r}" for r in range(ROUNDS + 1)]
        answers = [f"{psy.first_name}-ответ-{r}" for r in range(1, ROUNDS + 1)]
        assert await stored_texts(app, case.id) == sent
        assert await stored_texts(app, case.id, author="psychologist") == answers
        to_student = Counter(fake_api.sent_texts(user.id))
        assert all(to_student[f"💬 Психолог:\n{a}"] == 1 for a in answers), to_student
        assert to_student["Получено ✓"] == ROUNDS, to_student
        relayed = Counter(
            line
            for text in fake_api.sent_texts(psy.id)
            if text.startswith("💬 ")  # relays, not the case cards
            for line in text.split("\n")
            if line in sent
        )
        assert relayed == Counter(sent[1:]), relayed
    async with app.sessionmaker() as session:
        statuses = Counter((await session.scalars(select(OutboxMessage.status))).all())
    assert set(statuses) == {"sent"}, statuses

    # The same running bot, no restart: a newcomer is answered at once.
    newcomer = TgUser(2199, "New", language_code="ru")
    fake_api.text_message(newcomer, "после перезапуска базы")
    await fake_api.wait_for(lambda c: c.chat_id == newcomer.id and c.is_send, timeout=10)
