"""Shared fixtures: databases (SQLite always, PostgreSQL when configured), the app wired to
the fake Bot API, and a clock tests can move forward."""

from __future__ import annotations

import asyncio
import base64
import io
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.app import App, create_app, poll
from bot.config import Settings
from bot.db.migrate import upgrade
from bot.stopping import wait_bounded
from fake_telegram import FakeBotAPI

PG_URL = os.environ.get("TRUSTLINE_TEST_DATABASE_URL")
TEST_TOKEN = "123456789:AAHfakeTokenForTestsOnly_abcdefghijk"
# An update being handled when a test ends rolls back within this (logged if not): longer
# than SQLite's 30 s busy timeout, so the loop's shutdown never cancels it a second time.
POLLING_STOP_SECONDS = 45.0
# What a test leaves running is cancelled once and given this long to end.
LEFTOVER_SECONDS = 2.0
# One template per pytest process, so parallel runs never drop each other's template.
TEMPLATE_DB = f"trustline_test_template_{os.getpid()}"


@dataclass
class FakeClock:
    """Real time plus an offset that tests move forward; never goes back."""

    offset: timedelta = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **kwargs: float) -> None:
        self.offset += timedelta(**kwargs)


def _pg_admin_url(url: str, database: str = "postgres") -> str:
    return url.rsplit("/", 1)[0] + f"/{database}"


_template_ready = False


async def _pg_database(url: str) -> str:
    """A fresh PostgreSQL database cloned from a migrated template (fast per test)."""
    global _template_ready
    admin = create_async_engine(_pg_admin_url(url), isolation_level="AUTOCOMMIT")
    name = f"trustline_t_{uuid.uuid4().hex[:12]}"
    try:
        async with admin.connect() as conn:
            if not _template_ready:
                await conn.execute(text(f"DROP DATABASE IF EXISTS {TEMPLATE_DB} WITH (FORCE)"))
                await conn.execute(text(f"CREATE DATABASE {TEMPLATE_DB}"))
                await asyncio.to_thread(upgrade, _pg_admin_url(url, TEMPLATE_DB))
                _template_ready = True
            await conn.execute(text(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB}"))
    finally:
        await admin.dispose()
    return _pg_admin_url(url, name)


async def _drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = create_async_engine(_pg_admin_url(url), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    finally:
        await admin.dispose()


_sqlite_template: Path | None = None


async def _sqlite_database(tmp_path: Path) -> str:
    """A migrated SQLite file, copied from one migrated once per session."""
    global _sqlite_template
    if _sqlite_template is None:
        template_dir = Path(os.environ.get("PYTEST_TMPDIR", "/tmp")) / f"tl-{uuid.uuid4().hex}"
        template_dir.mkdir(parents=True)
        _sqlite_template = template_dir / "template.sqlite3"
        await asyncio.to_thread(upgrade, f"sqlite+aiosqlite:///{_sqlite_template}")
    target = tmp_path / "trustline.sqlite3"
    target.write_bytes(_sqlite_template.read_bytes())
    return f"sqlite+aiosqlite:///{target}"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if PG_URL and _template_ready:

        async def drop_template() -> None:
            admin = create_async_engine(_pg_admin_url(PG_URL), isolation_level="AUTOCOMMIT")
            try:
                async with admin.connect() as conn:
                    await conn.execute(text(f"DROP DATABASE IF EXISTS {TEMPLATE_DB} WITH (FORCE)"))
            finally:
                await admin.dispose()

        asyncio.run(drop_template())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield await _sqlite_database(tmp_path)
        return
    if not PG_URL:
        pytest.skip("PostgreSQL tests need TRUSTLINE_TEST_DATABASE_URL")
    url = await _pg_database(PG_URL)
    try:
        yield url
    finally:
        await _drop_pg_database(url)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def master_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as api:
        yield api


@pytest.fixture
def settings(
    database_url: str,
    fake_api: FakeBotAPI,
    master_key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Settings:
    monkeypatch.chdir(tmp_path)  # no stray files in the repository
    return Settings(
        bot_token=TEST_TOKEN,
        database_url=database_url,
        master_key=master_key,
        telegram_api=fake_api.base_url,
        bot_username="trustline_test_bot",
        _env_file=None,
    )


@pytest.fixture(autouse=True)
async def no_task_outlives_its_test(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """What a test leaves running, found here, after every other fixture is torn down.

    The event loop's shutdown would cancel it; on SQLite a connection close cancelled a
    second time never ends (bot/stopping.py), and the whole run hung in teardown. The
    cause, found with this log: `trustline run` cancelled from outside (the demo, tests
    of run) closed the app under a still-running intake (bot/cli/run.py now stops as on
    a signal). Every leftover is written with its stack to
    test-artifacts/leftover-tasks.log and cancelled once, as the shutdown would; one that
    does not end within LEFTOVER_SECONDS fails the test, and is taken off the loop's task
    list so the run goes on instead of hanging."""
    before = asyncio.all_tasks()  # a longer-lived fixture's own tasks are not leftovers
    yield
    me = asyncio.current_task()
    left = [t for t in asyncio.all_tasks() if t is not me and not t.done() and t not in before]
    if not left:
        return
    _note_leftovers(request.node.nodeid, left)
    for task in left:
        task.cancel()  # as the loop's shutdown would, once
    if await wait_bounded("test_leftover_tasks", left, LEFTOVER_SECONDS):
        return
    stuck = [task for task in left if not task.done()]
    for task in stuck:
        asyncio.tasks._unregister_task(task)  # noqa: SLF001 - see the docstring
    names = sorted(task.get_name() for task in stuck)
    pytest.fail(f"tasks left by the test did not end when cancelled: {names}", pytrace=False)


def _note_leftovers(nodeid: str, tasks: list[asyncio.Task[object]]) -> None:
    """Which test left which task, and where it waits: test-artifacts/leftover-tasks.log."""
    out = io.StringIO()
    for task in tasks:
        out.write(f"{nodeid} {task.get_name()} {task.get_coro()!r}\n")
        task.print_stack(limit=8, file=out)
    path = Path(__file__).resolve().parent.parent / "test-artifacts" / "leftover-tasks.log"
    path.parent.mkdir(exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(out.getvalue())


@asynccontextmanager
async def running_app(settings: Settings, clock: FakeClock) -> AsyncIterator[App]:
    """One life of the real app: long polling the fake Bot API, with the outbox sender
    running. Tests of a restart enter it twice."""
    application = await create_app(settings, clock=clock, migrate=False)
    await application.start_background()
    stop = asyncio.Event()
    polling = asyncio.create_task(poll(application, poll_seconds=1, stop=stop))
    try:
        yield application
    finally:
        # Stopped, not cancelled: an update being handled commits or rolls back by itself.
        # A cancelled handler left SQLAlchemy's shielded close of its SQLite connection
        # running behind the write lock; the event loop's shutdown then cancelled that close
        # a second time, and it never ended (bot/stopping.py): a test hung in teardown.
        stop.set()
        if not await wait_bounded("test_polling", [polling], POLLING_STOP_SECONDS):
            polling.cancel()  # the first cancel it gets
            await wait_bounded("test_polling_cancelled", [polling], POLLING_STOP_SECONDS)
        await application.close()


@pytest.fixture
async def app(settings: Settings, clock: FakeClock) -> AsyncIterator[App]:
    """The real app, long polling the fake Bot API, with the outbox sender running."""
    async with running_app(settings, clock) as application:
        yield application


@pytest.fixture
def artifacts_dir() -> Iterator[Path]:
    path = Path(__file__).resolve().parent.parent / "test-artifacts"
    path.mkdir(exist_ok=True)
    yield path
