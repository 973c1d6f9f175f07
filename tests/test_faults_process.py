"""`trustline run` killed with SIGKILL at random moments while 200 student messages and 200
psychologist answers flow, and started again each time: every message is stored once, and
every message, answer and acknowledgement is delivered exactly once.

The one exception is the documented crash window (bot/delivery/sender.py): a message that was
already on its way to Telegram when the process died (its outbox row was left `sending`)
may arrive a second time, never not at all. The test reads those rows after each kill and
allows exactly them one more delivery; any other repeat, and any loss, fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import func, select, update

from bot.app import App, create_app
from bot.config import Settings
from bot.db.models import Case, CaseMessage, Member, OutboxMessage
from bot.delivery import outbox
from bot.services.security import audit
from fake_telegram import FakeBotAPI, TgUser
from tests.faults.processes import Runner, bot_env, free_port, runner_fixture  # noqa: F401
from tests.faults.support import (
    add_member,
    busiest_second,
    case_of,
    command,
    eventually,
    settled,
    stored_texts,
)

pytestmark = pytest.mark.faults

PAIRS = 20
ROUNDS = 10  # PAIRS * ROUNDS = 200 student messages and 200 answers
KILLS = 5


async def in_doubt(app: App) -> list[tuple[int, str]]:
    """(chat, text) of rows a dead bot left `sending`: maybe delivered, maybe not."""
    found = []
    async with app.sessionmaker() as session:
        rows = (
            await session.scalars(select(OutboxMessage).where(OutboxMessage.status == "sending"))
        ).all()
        for row in rows:
            target: Any = (
                await session.get(Case, row.case_id)
                if row.case_id
                else await session.get(Member, row.member_id)
            )
            chat = (
                app.rt.vault.student_chat_id(target)
                if isinstance(target, Case)
                else app.rt.vault.member_chat_id(target)
            )
            text = outbox.open_payload(app.rt.vault, row, target)["params"].get("text", "")
            assert chat is not None
            found.append((chat, text))
    return found


async def leases_run_out(app: App) -> None:
    """The dead bot's leases would run out in a minute; the test does not wait for it."""
    async with app.sessionmaker() as session, session.begin():
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.lease_until.is_not(None))
            .values(lease_until=app.rt.now() - timedelta(seconds=1))
        )


async def test_sigkill_at_random_moments_loses_and_repeats_nothing(
    runner: Runner, settings: Settings, fake_api: FakeBotAPI
):
    rng = random.Random(int(os.environ.get("TRUSTLINE_FAULT_SEED", "20261123")))
    env = bot_env(settings)
    helper = await create_app(settings, migrate=False)  # the test's own view of the database
    students = [TgUser(1100 + i, f"S{i}", language_code="ru") for i in range(PAIRS)]
    psys = [TgUser(1900 + i, f"P{i}") for i in range(PAIRS)]
    allowed: Counter[tuple[int, str]] = Counter()
    try:
        async with helper.sessionmaker() as session, session.begin():
            for psy in psys:
                await add_member(helper, session, psy)
        runner.start(env)
        for user in students:
            fake_api.text_message(user, f"{user.first_name}-0")
        await settled(helper, fake_api, timeout=120)
        for user, psy in zip(students, psys, strict=True):
            command(fake_api, psy, f"/take {(await case_of(helper, user)).code}")
        await settled(helper, fake_api, timeout=60)

        async def traffic() -> None:
            for round_ in range(1, ROUNDS + 1):
                for user, psy in zip(students, psys, strict=True):
                    fake_api.text_message(user, f"{user.first_name}-{round_}")
                    fake_api.text_message(psy, f"{psy.first_name}-ответ-{round_}")
                await asyncio.sleep(rng.uniform(0.2, 0.8))

        flowing = asyncio.create_task(traffic())
        for _ in range(KILLS):
            polls = fake_api.polls
            await eventually(
                lambda p=polls: _polled_since(fake_api, p), timeout=120, what="the bot polling"
            )
            await asyncio.sleep(rng.uniform(0.1, 1.5))
            runner.kill()
            allowed.update(await in_doubt(helper))
            await leases_run_out(helper)
            runner.start(env)
        await flowing
        await settled(helper, fake_api, timeout=120)
        await check(helper, fake_api, students, psys, allowed)
    except BaseException:
        print(runner.tail())
        raise
    finally:
        runner.kill()
        await helper.close()


async def _polled_since(api: FakeBotAPI, polls: int) -> bool:
    return api.polls > polls


async def check(
    app: App,
    api: FakeBotAPI,
    students: list[TgUser],
    psys: list[TgUser],
    allowed: Counter[tuple[int, str]],
) -> None:
    delivered = Counter((c.chat_id, c.text or "") for c in api.calls if c.ok and c.is_send)
    expected: Counter[tuple[int, str]] = Counter()
    for user, psy in zip(students, psys, strict=True):
        case = await case_of(app, user)
        sent = [f"{user.first_name}-{r}" for r in range(ROUNDS + 1)]
        answers = [f"{psy.first_name}-ответ-{r}" for r in range(1, ROUNDS + 1)]
        assert await stored_texts(app, case.id) == sent  # each once, in order
        assert await stored_texts(app, case.id, author="psychologist") == answers
        label = app.rt.tr(
            "ru", "💬 {code} — the student writes:", code=f"#{case.code[:4]}-{case.code[4:]}"
        )
        expected.update((user.id, f"💬 Психолог:\n{a}") for a in answers)
        expected[(user.id, "Получено ✓")] += ROUNDS
        expected.update((psy.id, f"{label}\n{s}") for s in sent[1:])
    problems = []
    for key, count in expected.items():
        if not count <= delivered[key] <= count + allowed[key]:
            problems.append(
                f"{key}: expected {count}, delivered {delivered[key]}, in doubt {allowed[key]}"
            )
    assert not problems, "\n".join(problems)
    repeats = sum(delivered[k] - c for k, c in expected.items())
    print(f"crash window: {sum(allowed.values())} rows in doubt, {repeats} sent twice")
    async with app.sessionmaker() as session:
        statuses = Counter((await session.scalars(select(OutboxMessage.status))).all())
        assert set(statuses) == {"sent"}, statuses
        total = await session.scalar(select(func.count()).select_from(CaseMessage))
        assert total == len(students) * (2 * ROUNDS + 1)
        assert (await audit.verify(session)).ok  # the chain survived every kill


# More chats than one sender works at once (bot.delivery.sender.MAX_ACTIVE_CHATS): the second
# process must take some of them.
SHARED_CHATS = 300
SHARED_PER_CHAT = 3


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_two_bot_processes_share_the_outbox_on_postgresql(
    runner: Runner, settings: Settings, fake_api: FakeBotAPI
):
    """Two `trustline run --webhook` processes on one PostgreSQL, as a country would run
    them behind a load balancer: each row is sent by one of them, exactly once, in order."""
    env = bot_env(settings)
    helper = await create_app(settings, migrate=False)
    bots: list[int] = []
    people = [TgUser(1_300_000 + i, f"M{i}") for i in range(SHARED_CHATS)]
    try:
        async with helper.sessionmaker() as session, session.begin():
            members = [
                await add_member(helper, session, person, role="staff") for person in people
            ]
            now = helper.rt.now()
            for i, member in enumerate(members):
                for n in range(SHARED_PER_CHAT):
                    outbox.enqueue(
                        session,
                        helper.rt.vault,
                        member,
                        "sendMessage",
                        {"text": f"{people[i].first_name}/{n}"},
                        now=now + timedelta(microseconds=i * SHARED_PER_CHAT + n),
                    )
        for _ in range(2):
            port = free_port()
            bots.append(
                runner.start(
                    env, "--webhook", f"http://127.0.0.1:{port}/hook", "--port", str(port)
                )
            )
            runner.bot = None  # both stay up; killed below by pid
        await settled(helper, fake_api, timeout=180)
        notes = {pid: _notes_of(runner.workdir, pid) for pid in bots}
    except BaseException:
        print(runner.tail())
        raise
    finally:
        for pid in bots:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        await helper.close()

    sent = [c for c in fake_api.calls if c.ok and c.is_send]
    assert len(sent) == SHARED_CHATS * SHARED_PER_CHAT
    assert max(Counter(c.text for c in sent).values()) == 1  # nothing twice
    for person in people:
        assert [c.text for c in sent if c.chat_id == person.id] == [
            f"{person.first_name}/{n}" for n in range(SHARED_PER_CHAT)
        ]
    # Each staff chat's menu is queued once by whichever process started first, not twice.
    menus = [
        c
        for c in fake_api.calls
        if c.ok and c.method == "setMyCommands" and c.params["scope"]["type"] == "chat"
    ]  # the students' menus (all private chats) are set straight, not through the outbox
    assert sorted(c.params["scope"]["chat_id"] for c in menus) == [p.id for p in people]
    assert all(count > 0 for count in notes.values()), notes  # both did part of it
    assert sum(notes.values()) == len(sent) + len(menus)  # one note per accepted row


def _notes_of(workdir: Path, pid: int) -> int:
    """How many sends a bot noted (its sent-notes file names its pid)."""
    return sum(
        len(path.read_text().splitlines()) for path in workdir.glob(f"trustline-sent-{pid}-*.log")
    )


# Telegram's limits on: 1,000 replies to 1,000 chats take 1,000 / 30 = 33.3 s at best.
LIMITED_CHATS = 1000
TELEGRAM_PER_S = 30
# Telegram opens up to 40 connections to a webhook at once (setWebhook's max_connections).
WEBHOOK_CONNECTIONS = 40
WEBHOOK_SECRET = "a-test-webhook-secret-of-forty-characters"  # noqa: S105


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_two_webhook_processes_keep_telegrams_limits_together(
    runner: Runner, settings: Settings, fake_api: FakeBotAPI, monkeypatch: pytest.MonkeyPatch
):
    """Two `trustline run --webhook` processes behind one port, Telegram's limits on in the
    fake (30 sends a second overall, one a second per chat) and the bots at their production
    pace: 1,000 students each send /privacy and each gets one answer, with not one 429.
    Each process alone keeps 30 a second; only the budget they share through PostgreSQL
    (bot/delivery/ratelimit.py) keeps the two of them at 30 together."""
    fake_api.rate_limits(TELEGRAM_PER_S, 1)
    env = {
        **bot_env(settings),
        "TRUSTLINE_SEND_PER_SECOND": str(TELEGRAM_PER_S),
        "TRUSTLINE_SEND_PER_CHAT_PER_SECOND": "1",
        "TRUSTLINE_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    students = [TgUser(1_500_000 + i, f"L{i}", language_code="ru") for i in range(LIMITED_CHATS)]
    updates: list[dict[str, Any]] = []

    def keep(update: dict[str, Any]) -> dict[str, Any]:
        updates.append(update)
        return update

    monkeypatch.setattr(fake_api, "push_update", keep)
    for user in students:  # built here, posted below as Telegram posts to a webhook
        command(fake_api, user, "/privacy")
    helper = await create_app(settings, migrate=False)
    bots: list[int] = []
    try:
        async with round_robin(free_port(), [free_port(), free_port()]) as (front, backends):
            for port in backends:
                bots.append(runner.start(env, "--webhook", f"{front}/hook", "--port", str(port)))
                runner.bot = None  # both stay up; killed below by pid
            await eventually(
                lambda: _webhooks_set(fake_api, len(bots)), timeout=120, what="both listening"
            )
            started = len(fake_api.calls)
            began = time.monotonic()
            await post_all(fake_api, f"{front}/hook", updates)
            await settled(helper, fake_api, timeout=180)
            drained = time.monotonic() - began
        notes = {pid: _notes_of(runner.workdir, pid) for pid in bots}
    except BaseException:
        print(runner.tail())
        raise
    finally:
        for pid in bots:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        await helper.close()

    sends = [c for c in fake_api.calls[started:] if c.is_send]
    print(
        f"{len(sends)} sends in {drained:.1f} s from the first update posted, "
        f"{sends[-1].at - sends[0].at:.1f} s from the first send to the last; "
        f"notes per process {sorted(notes.values())}"
    )
    assert fake_api.too_many_requests == 0
    assert all(c.ok for c in sends)
    privacy = fake_api_text(helper, "ru")
    assert Counter(c.chat_id for c in sends) == Counter(u.id for u in students)  # one each
    assert {c.text for c in sends} == {privacy}
    # The fake's own clock agrees: no second holds more than Telegram allows.
    assert busiest_second([c.at for c in sends]) <= TELEGRAM_PER_S
    assert all(count > 0 for count in notes.values()), notes  # both sent part of them


def fake_api_text(app: App, language: str) -> str:
    """The answer to /privacy in `language`, as the student reads it."""
    return app.rt.tr(
        language,
        "What we keep: your messages, locked with encryption so only the psychologist on "
        "your case can read them; the school of the poster you scanned (not the class).\n\n"
        "What we never keep: your name, username, phone number or Telegram account. We "
        "cannot tell your school, teachers or parents who wrote, because we do not know it."
        "\n\nWho can read your messages: only the psychologist from the education "
        "department who takes your case. School management never sees them.\n\nClosed "
        "conversations are destroyed after a year. /forget unlinks this chat from your "
        "messages now.",
    )


async def _webhooks_set(api: FakeBotAPI, processes: int) -> bool:
    return sum(c.ok for c in api.calls_of("setWebhook")) >= processes


async def post_all(api: FakeBotAPI, url: str, updates: list[dict[str, Any]]) -> None:
    """Post every update to the webhook as Telegram does: several connections at once, an
    update posted again until it is answered 200."""
    queue = list(reversed(updates))

    async def connection() -> None:
        while queue:
            update = queue.pop()
            while True:
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    if await api.deliver_webhook(url, update, WEBHOOK_SECRET) == 200:
                        break
                await asyncio.sleep(0.2)

    await asyncio.gather(*(connection() for _ in range(WEBHOOK_CONNECTIONS)))


@contextlib.asynccontextmanager
async def round_robin(port: int, backends: list[int]) -> AsyncIterator[tuple[str, list[int]]]:
    """A load balancer on `port`: each request goes to the next of `backends` in turn (a
    backend that does not answer yet gets the request's 502, which Telegram retries)."""
    turn = itertools.cycle(backends)

    async with aiohttp.ClientSession() as client:

        async def forward(request: web.Request) -> web.Response:
            body, headers = await request.read(), dict(request.headers)
            headers.pop("Host", None)
            try:
                async with client.post(
                    f"http://127.0.0.1:{next(turn)}{request.path}", data=body, headers=headers
                ) as answer:
                    return web.Response(
                        status=answer.status,
                        body=await answer.read(),
                        content_type=answer.content_type,
                    )
            except aiohttp.ClientError:
                return web.Response(status=502)

        app = web.Application()
        app.router.add_post("/{path:.*}", forward)
        server = web.AppRunner(app, access_log=None)
        await server.setup()
        await web.TCPSite(server, "127.0.0.1", port).start()
        try:
            yield f"http://127.0.0.1:{port}", backends
        finally:
            await server.cleanup()
