"""GET /healthz, /readyz and /metrics through real HTTP, on both engines: ready, then each
reason for 503 (database gone, migrations behind, Telegram not reached in the last
minute); metrics that parse, move after a student's message and a send, and whose labels
never name a case, a member, a student or a chat."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.app import App, create_app
from bot.cli.run import serve
from bot.config import Settings
from bot.db.models import Case
from bot.health import Health, migration_heads
from fake_telegram import FakeBotAPI, TgUser
from tests.conftest import FakeClock, _pg_admin_url
from tests.faults.support import eventually

CASE_CODE = re.compile(r"^#?[0-9A-Z]{4}-?[0-9A-Z]{4}$")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Monotonic:
    """time.monotonic plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.text()


async def listening(health: Health) -> tuple[web.AppRunner, str]:
    """The health routes on a server of their own, as the webhook's server carries them."""
    web_app = web.Application()
    health.add_routes(web_app)
    runner = web.AppRunner(web_app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


@pytest.fixture
async def quiet_app(settings: Settings, clock: FakeClock) -> AsyncIterator[App]:
    """The app, neither polling nor sending: nothing speaks to Telegram but the test."""
    app = await create_app(settings, clock=clock, migrate=False)
    try:
        yield app
    finally:
        await app.close()


async def test_ready_then_each_reason_for_503(
    quiet_app: App, fake_api: FakeBotAPI, settings: Settings
) -> None:
    monotonic = Monotonic()
    health = Health(quiet_app, clock=monotonic)
    runner, base = await listening(health)
    try:
        assert await get(f"{base}/healthz") == (200, "ok\n")

        # Telegram never answered since start, and the getMe /readyz asks fails.
        fake_api.fail_next(1, 502, methods=["getMe"])
        assert await get(f"{base}/readyz") == (503, "telegram: not reached since start\n")

        # The next /readyz asks getMe again, Telegram answers: ready.
        assert await get(f"{base}/readyz") == (200, "ready\n")
        asked = sum(1 for call in fake_api.calls if call.method == "getMe")
        # Fresh contact: no getMe for the next request.
        assert await get(f"{base}/readyz") == (200, "ready\n")
        assert sum(1 for call in fake_api.calls if call.method == "getMe") == asked

        # A minute and more without an answer, and getMe fails: 503.
        monotonic.offset += 61
        fake_api.fail_next(1, 502, methods=["getMe"])
        status, reason = await get(f"{base}/readyz")
        assert status == 503 and reason.startswith("telegram: not reached for 6"), reason
        assert await get(f"{base}/readyz") == (200, "ready\n")

        # Migrations behind the code's head.
        (head,) = migration_heads()
        async with quiet_app.engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = '0013'"))
        assert head != "0013"
        assert await get(f"{base}/readyz") == (
            503,
            "database: migrations not current (run `trustline db upgrade`)\n",
        )
        async with quiet_app.engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})
        assert await get(f"{base}/readyz") == (200, "ready\n")

        # The database is gone: 503 naming it, while /healthz still says alive.
        await database_gone(quiet_app, settings.database_url)
        status, reason = await get(f"{base}/readyz")
        assert status == 503 and reason.startswith("database: unreachable ("), reason
        assert await get(f"{base}/healthz") == (200, "ok\n")
        # /metrics still answers, saying the database did not.
        status, body = await get(f"{base}/metrics")
        assert status == 200
        assert sample(body, "trustline_metrics_database_up") == 0
    finally:
        await runner.cleanup()


async def database_gone(app: App, url: str) -> None:
    """PostgreSQL: the database is dropped. SQLite: its file is gone and its path cannot
    be opened again."""
    await app.engine.dispose()
    if url.startswith("sqlite"):
        replace_with_folder(Path(url.split(":///", 1)[1]))
        return
    name = url.rsplit("/", 1)[1]
    admin = create_async_engine(_pg_admin_url(url), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    finally:
        await admin.dispose()


def replace_with_folder(path: Path) -> None:
    path.unlink()
    path.mkdir()  # SQLite cannot open a folder; a missing file it would create afresh


def samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition (parsed by prometheus_client.parser), by name and
    labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def sample(body: str, name: str, **labels: str) -> float:
    return samples(body).get((name, tuple(sorted(labels.items()))), 0.0)


URGENT_TEXT = "я больше не хочу жить"


async def test_metrics_parse_and_move_after_a_message_and_a_send(
    app: App, fake_api: FakeBotAPI, clock: FakeClock
) -> None:
    health = Health(app)
    runner, base = await listening(health)
    try:
        status, before = await get(f"{base}/metrics")
        assert status == 200
        names = {family.name for family in text_string_to_metric_families(before)}
        assert {
            "trustline_updates",
            "trustline_update_handling_seconds",
            "trustline_sends",
            "trustline_outbox_pending",
            "trustline_outbox_oldest_pending_age_seconds",
            "trustline_open_cases",
            "trustline_oldest_untaken_urgent_case_age_seconds",
            "trustline_dead_letters",
            "trustline_metrics_database_up",
        } <= names
        assert sample(before, "trustline_open_cases", priority="urgent", status="open") == 0
        assert sample(before, "trustline_oldest_untaken_urgent_case_age_seconds") == 0

        # The bot's first answer is refused with 429 once, then sent.
        fake_api.fail_next(1, 429, retry_after=1, methods=["sendMessage"])
        user = TgUser(9101, "Dana", language_code="ru")
        fake_api.text_message(user, URGENT_TEXT)
        await fake_api.wait_for(
            lambda c: c.chat_id == user.id and c.method == "sendMessage" and c.ok, timeout=20
        )
        clock.advance(minutes=3)

        async def outbox_settled() -> bool:
            status, body = await get(f"{base}/metrics")
            return sample(body, "trustline_sends_total", method="sendMessage", result="ok") > (
                sample(before, "trustline_sends_total", method="sendMessage", result="ok")
            )

        await eventually(outbox_settled, timeout=20, what="a send counted")
        status, after = await get(f"{base}/metrics")
        assert status == 200

        def moved(name: str, **labels: str) -> float:
            return sample(after, name, **labels) - sample(before, name, **labels)

        assert moved("trustline_updates_total", kind="message", outcome="handled") >= 1
        assert moved("trustline_update_handling_seconds_count", kind="message") >= 1
        assert moved("trustline_sends_total", method="sendMessage", result="429") >= 1
        assert moved("trustline_sends_total", method="sendMessage", result="ok") >= 1
        assert sample(after, "trustline_open_cases", priority="urgent", status="open") == 1
        assert sample(after, "trustline_oldest_untaken_urgent_case_age_seconds") >= 180
        assert sample(after, "trustline_dead_letters") == 0
        assert sample(after, "trustline_metrics_database_up") == 1

        # Labels: fixed values only, never a case code, an id or anything the student sent.
        async with app.sessionmaker() as session:
            codes = (await session.scalars(select(Case.code))).all()
        assert codes
        for (name, labels), _value in samples(after).items():
            for label, value in labels:
                assert not CASE_CODE.match(value), (name, label, value)
                if label != "le":  # a histogram's bucket bounds
                    assert value in ("429", "403") or not re.search(r"\d{4,}", value), (
                        name,
                        label,
                        value,
                    )
        for secret in [*codes, str(user.id), URGENT_TEXT, "Dana"]:
            assert secret not in after
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("mode", ["webhook", "polling"])
async def test_trustline_run_serves_the_endpoints(
    settings: Settings, fake_api: FakeBotAPI, mode: str
) -> None:
    """`trustline run` (serve): the three endpoints on the webhook's own port, or on the
    port beside long polling."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/tg/hook" if mode == "webhook" else None
    running = asyncio.create_task(serve(settings, webhook=url, port=port))
    base = f"http://127.0.0.1:{port}"
    try:

        async def ready() -> bool:
            assert not running.done(), running.exception()
            try:
                return (await get(f"{base}/readyz"))[0] == 200
            except aiohttp.ClientConnectionError:
                return False

        await eventually(ready, timeout=30, what="/readyz 200")
        assert await get(f"{base}/healthz") == (200, "ok\n")
        status, body = await get(f"{base}/metrics")
        assert status == 200 and "trustline_open_cases" in body
        if mode == "webhook":
            assert fake_api.webhook is not None and fake_api.webhook["url"] == url
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


def test_the_port_setting_defaults_to_8080(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRUSTLINE_HTTP_PORT", raising=False)
    assert Settings(_env_file=None).http_port == 8080
    monkeypatch.setenv("TRUSTLINE_HTTP_PORT", "9100")
    assert Settings(_env_file=None).http_port == 9100
