"""Errors that name their cause (issue 16): through the real console script, an operator sees
one line saying what is wrong (Telegram unreachable, database unreachable, database not
migrated, key missing), no traceback, exit code 2, and nothing was written first: no key file,
no audit key, no rows. `invite` and `run` name the bot the token belongs to."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.app import opened_core
from bot.config import Settings
from bot.crypto import MasterKey
from bot.db.models import Invite
from bot.services.organisation import org
from bot.services.security.keys import write_key_file
from fake_telegram import FakeBotAPI
from tests.conftest import PG_URL, TEST_TOKEN, _pg_admin_url

ROOT = Path(__file__).resolve().parent.parent
CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith("TRUSTLINE_")}
ORG_CSV = "country,region,district,school\nKG,Чүй,Аламүдүн,Мектеп № 1\n"
# What a start writes beside the working directory; none of it may appear when it fails.
WRITTEN_AT_START = ("trustline.key", "trustline-audit.key", "trustline-period-keys")
COMMAND_SECONDS = 120  # a bound on a hung command, not a timing


@dataclass
class Said:
    code: int
    out: str
    err: str

    def one_line(self) -> str:
        """The single `trustline:` line of stderr, with no traceback around it."""
        assert "Traceback" not in self.err, self.err
        lines = self.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("trustline: "), self.err
        return lines[0]


async def trustline(*args: str, cwd: Path, **env: str) -> Said:
    """`python -m bot.cli ARGS` in a process of its own, as an operator runs it (the test's
    event loop keeps serving the fake Bot API meanwhile)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        *args,
        cwd=cwd,
        env={**CLEAN_ENV, "PYTHONPATH": str(ROOT), **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), COMMAND_SECONDS)
    assert process.returncode is not None
    return Said(process.returncode, out.decode(), err.decode())


def nothing_written(folder: Path) -> None:
    assert [name for name in WRITTEN_AT_START if (folder / name).exists()] == []


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database that exists but was never migrated: an empty SQLite file, or an empty
    PostgreSQL database made here (not from the migrated template)."""
    if request.param == "sqlite":
        path = tmp_path / "empty.sqlite3"
        path.touch()
        yield f"sqlite+aiosqlite:///{path}"
        return
    if not PG_URL:
        pytest.skip("PostgreSQL tests need TRUSTLINE_TEST_DATABASE_URL")
    name = f"trustline_empty_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(_pg_admin_url(PG_URL), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f"CREATE DATABASE {name}"))
        yield _pg_admin_url(PG_URL, name)
        async with admin.connect() as conn:
            await conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    finally:
        await admin.dispose()


async def _tables(url: str) -> list[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            if url.startswith("sqlite"):
                query = "SELECT name FROM sqlite_master WHERE type = 'table'"
            else:
                query = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            return [str(row[0]) for row in await conn.execute(text(query))]
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    "command",
    [
        ["org", "import", "org.csv"],
        ["members", "list"],
        ["posters", "--school", "Мектеп № 1", "--classes", "5А", "--out", "p.pdf"],
        ["invite", "psychologist", "--region", "Чүй"],
        ["run"],
    ],
    ids=lambda command: command[0],
)
async def test_an_empty_database_says_run_db_upgrade(
    empty_database: str, tmp_path: Path, command: list[str]
) -> None:
    (tmp_path / "org.csv").write_text(ORG_CSV, encoding="utf-8")
    said = await trustline(
        *command,
        cwd=tmp_path,
        TRUSTLINE_DATABASE_URL=empty_database,
        TRUSTLINE_BOT_TOKEN=TEST_TOKEN,
        TRUSTLINE_BOT_USERNAME="trustline_test_bot",
        TRUSTLINE_TELEGRAM_API=f"http://127.0.0.1:{closed_port()}",  # never reached
    )
    assert said.code == 2
    line = said.one_line()
    assert "has no tables yet; run `trustline db upgrade` first." in line, line
    nothing_written(tmp_path)
    assert not (tmp_path / "p.pdf").exists()
    assert await _tables(empty_database) == []  # not migrated behind the operator's back


async def test_an_sqlite_file_that_does_not_exist_is_not_made(tmp_path: Path) -> None:
    said = await trustline(
        "members",
        "list",
        cwd=tmp_path,
        TRUSTLINE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'typo.sqlite3'}",
    )
    assert said.code == 2
    assert "typo.sqlite3 does not exist; create it with `trustline db upgrade`" in said.one_line()
    assert not (tmp_path / "typo.sqlite3").exists()
    nothing_written(tmp_path)


async def test_an_unreachable_telegram_is_not_called_a_database_error(
    database_url: str, tmp_path: Path
) -> None:
    """Was: `cannot use the database ...: connect call failed` (issue 16)."""
    port = closed_port()
    said = await trustline(
        "run",
        cwd=tmp_path,
        TRUSTLINE_DATABASE_URL=database_url,
        TRUSTLINE_BOT_TOKEN=TEST_TOKEN,
        TRUSTLINE_TELEGRAM_API=f"http://127.0.0.1:{port}",
    )
    assert said.code == 2
    assert said.one_line() == (
        f"trustline: cannot reach Telegram at TRUSTLINE_TELEGRAM_API=http://127.0.0.1:{port}: "
        "nothing answers at that host and port (is the server running?)."
    )
    nothing_written(tmp_path)  # the database answered, but the start stopped before writing


async def test_an_unreachable_database_is_named_and_nothing_is_written(tmp_path: Path) -> None:
    (tmp_path / "org.csv").write_text(ORG_CSV, encoding="utf-8")
    said = await trustline(
        "org",
        "import",
        "org.csv",
        cwd=tmp_path,
        TRUSTLINE_DATABASE_URL=f"postgresql+asyncpg://u:hunter2@127.0.0.1:{closed_port()}/db",
    )
    assert said.code == 2
    line = said.one_line()
    assert line.startswith("trustline: cannot use the database TRUSTLINE_DATABASE_URL=")
    assert "nothing answers at that host and port" in line and "hunter2" not in line
    nothing_written(tmp_path)


async def _database_with_keys(database_url: str, folder: Path) -> None:
    """What a first start leaves: the pseudonym keys in the database, made with the key
    file in `folder` (which the operator then loses)."""
    key_path = folder / "trustline.key"
    await asyncio.to_thread(folder.mkdir)
    write_key_file(key_path, [MasterKey.generate()])
    settings = Settings(database_url=database_url, master_key_file=key_path, _env_file=None)
    async with opened_core(settings) as core, core.sessionmaker() as session, session.begin():
        await org.import_rows(session, org.parse_csv(ORG_CSV))


async def test_a_missing_key_file_is_named_and_no_new_key_is_made(
    database_url: str, tmp_path: Path
) -> None:
    """A database that holds keys, and no key file: a new key would open nothing, so the
    command refuses instead of writing one."""
    await _database_with_keys(database_url, tmp_path / "first")
    work = tmp_path / "work"
    work.mkdir()
    said = await trustline("members", "list", cwd=work, TRUSTLINE_DATABASE_URL=database_url)
    assert said.code == 2
    line = said.one_line()
    assert "the master key file trustline.key does not exist" in line, line
    assert "restore the key file" in line
    nothing_written(work)

    gone = work / "elsewhere.key"
    said = await trustline(
        "members",
        "list",
        cwd=work,
        TRUSTLINE_DATABASE_URL=database_url,
        TRUSTLINE_MASTER_KEY_FILE=str(gone),
    )
    assert said.code == 2
    assert said.one_line() == (
        f"trustline: TRUSTLINE_MASTER_KEY_FILE points to {gone}, which does not exist."
    )
    nothing_written(work)


async def _invites(database_url: str) -> int:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(Invite))).scalar_one())
    finally:
        await engine.dispose()


async def test_invite_learns_the_bots_name_from_telegram(
    database_url: str, master_key: str, tmp_path: Path
) -> None:
    env = {"TRUSTLINE_DATABASE_URL": database_url, "TRUSTLINE_MASTER_KEY": master_key}
    (tmp_path / "org.csv").write_text(ORG_CSV, encoding="utf-8")
    assert (await trustline("org", "import", "org.csv", cwd=tmp_path, **env)).code == 0
    async with FakeBotAPI(username="zhambyl_trust_bot") as api:
        said = await trustline(
            "invite",
            "psychologist",
            "--region",
            "Чүй",
            cwd=tmp_path,
            TRUSTLINE_BOT_TOKEN=TEST_TOKEN,
            TRUSTLINE_TELEGRAM_API=api.base_url,
            **env,
        )
        assert said.code == 0, said.err
        link = said.out.strip().splitlines()[-1]
        assert link.startswith("https://t.me/zhambyl_trust_bot?start=join_"), said.out
        assert [call.method for call in api.calls] == ["getMe"]
    assert await _invites(database_url) == 1

    # Neither a name nor a token: no link to anyone's bot, no invite made.
    said = await trustline("invite", "psychologist", "--region", "Чүй", cwd=tmp_path, **env)
    assert said.code == 2
    assert "set TRUSTLINE_BOT_USERNAME (the bot's @name) or TRUSTLINE_BOT_TOKEN" in said.one_line()
    assert "t.me/" not in said.out
    # Telegram unreachable: the cause, and what else would do.
    port = closed_port()
    said = await trustline(
        "invite",
        "psychologist",
        "--region",
        "Чүй",
        cwd=tmp_path,
        TRUSTLINE_BOT_TOKEN=TEST_TOKEN,
        TRUSTLINE_TELEGRAM_API=f"http://127.0.0.1:{port}",
        **env,
    )
    assert said.code == 2
    assert said.one_line() == (
        f"trustline: cannot reach Telegram at TRUSTLINE_TELEGRAM_API=http://127.0.0.1:{port}: "
        "nothing answers at that host and port (is the server running?); or set "
        "TRUSTLINE_BOT_USERNAME to the bot's @name."
    )
    assert await _invites(database_url) == 1


async def test_run_names_the_bot_in_its_start_up_line(
    database_url: str, master_key: str, tmp_path: Path
) -> None:
    env = {
        **CLEAN_ENV,
        "PYTHONPATH": str(ROOT),
        "TRUSTLINE_DATABASE_URL": database_url,
        "TRUSTLINE_MASTER_KEY": master_key,
        "TRUSTLINE_BOT_TOKEN": TEST_TOKEN,
        "TRUSTLINE_HTTP_PORT": str(closed_port()),
    }
    async with FakeBotAPI(username="zhambyl_trust_bot") as api:
        env["TRUSTLINE_TELEGRAM_API"] = api.base_url
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            "run",
            cwd=tmp_path,
            env=env,
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stderr is not None
        started = ""
        try:
            async with asyncio.timeout(120):
                while "bot_started" not in started:
                    line = (await process.stderr.readline()).decode()
                    assert line, "the bot ended before it started"
                    started = line
        finally:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 60)
        assert "bot_started bot=@zhambyl_trust_bot mode=polling" in started, started

        # TRUSTLINE_BOT_USERNAME naming another bot: the posters would open it; refused.
        said = await trustline(
            "run",
            cwd=tmp_path,
            **{k: v for k, v in env.items() if k.startswith("TRUSTLINE_")},
            TRUSTLINE_BOT_USERNAME="trustline_bot",
        )
    assert said.code == 2
    assert said.one_line() == (
        "trustline: TRUSTLINE_BOT_USERNAME is @trustline_bot, but TRUSTLINE_BOT_TOKEN belongs "
        "to @zhambyl_trust_bot: invites and posters would open another bot; correct "
        "TRUSTLINE_BOT_USERNAME or leave it out."
    )
