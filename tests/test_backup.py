"""`trustline backup --out DIR` while the bot runs, restored into a fresh database: the
student's case is found again by their pseudonym and its message opens with the key."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sqlite3
import subprocess
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.app import App
from bot.cli import main
from bot.cli.backup import backup_sqlite, libpq_environment
from bot.config import Settings
from bot.core import opened_core
from bot.db.models import Case, CaseMessage
from bot.services.casework import cases
from bot.services.security import keys
from fake_telegram import FakeBotAPI, TgUser
from tests.faults.support import case_of, settled

STUDENT = TgUser(7301, "Student", language_code="ru")
WORDS = "Меня обижают в классе, помогите"


async def _restored_words(settings: Settings, database_url: str) -> tuple[str, list[str]]:
    """The code of the student's case and its messages, read from `database_url` with
    nothing but the settings' keys."""
    restored = settings.model_copy(update={"database_url": database_url})
    async with opened_core(restored, migrate=False) as core:
        async with core.sessionmaker() as session:
            student = await cases.get_student(session, core.rt, STUDENT.id)
            assert student is not None and student.active_case_id is not None
            case = await session.get(Case, student.active_case_id)
            assert case is not None
            rows = (
                await session.scalars(
                    select(CaseMessage)
                    .where(CaseMessage.case_id == case.id, CaseMessage.author == "student")
                    .order_by(CaseMessage.created_at)
                )
            ).all()
            return case.code, [
                core.rt.vault.open_text_for_case(case, f"msg/{m.id}", "body", m.body_enc)
                for m in rows
            ]


def _backup(
    settings: Settings,
    out: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> tuple[Path, str]:
    """Run the CLI with the bot's settings in the environment; the one file it wrote."""
    monkeypatch.setenv("TRUSTLINE_DATABASE_URL", settings.database_url)
    assert settings.master_key is not None
    monkeypatch.setenv("TRUSTLINE_MASTER_KEY", settings.master_key.get_secret_value())
    capsys.readouterr()
    assert main(["backup", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    (dump,) = list(out.iterdir())  # no partial file left beside it
    assert (dump.stat().st_mode & 0o777) == 0o600
    assert (out.stat().st_mode & 0o777) == 0o700
    return dump, printed


async def _student_wrote(app: App, fake_api: FakeBotAPI) -> str:
    fake_api.text_message(STUDENT, WORDS)
    await settled(app, fake_api)
    return (await case_of(app, STUDENT)).code


async def test_backup_restores_into_a_fresh_database(
    app: App,
    fake_api: FakeBotAPI,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    on_sqlite = settings.database_url.startswith("sqlite")
    pg_restore = shutil.which("pg_restore")
    if not on_sqlite and (shutil.which("pg_dump") is None or pg_restore is None):
        pytest.skip("pg_dump and pg_restore are not on PATH (PostgreSQL client tools)")
    code = await _student_wrote(app, fake_api)
    # Taken while the bot runs: one consistent state (SQLite's backup API, pg_dump's
    # snapshot).
    dump, printed = await asyncio.to_thread(
        _backup, settings, tmp_path / "backups", monkeypatch, capsys
    )
    assert "apart from this dump" in printed
    assert "TRUSTLINE_MASTER_KEY" in printed and "trustline-audit.key" in printed
    # The period keys too: cases are sealed under them (bot/crypto/periods.py).
    period_keys = keys.period_key_directory(settings).resolve()
    assert f"retention-period key directory {period_keys}" in printed
    if on_sqlite:
        assert dump.suffix == ".sqlite3"
        fresh = tmp_path / "restored" / "trustline.sqlite3"
        fresh.parent.mkdir()
        shutil.copyfile(dump, fresh)
        restored = await _restored_words(settings, f"sqlite+aiosqlite:///{fresh}")
    else:
        assert pg_restore is not None and dump.suffix == ".pgdump" and "pg_restore" in printed
        restored = await _pg_restored_words(settings, pg_restore, dump)
    assert restored == (code, [WORDS])


async def _pg_restored_words(
    settings: Settings, pg_restore: str, dump: Path
) -> tuple[str, list[str]]:
    """Restore the dump with pg_restore into a database made for it, read it, drop it."""
    url = make_url(settings.database_url)
    fresh = url.set(database=f"trustline_restore_{uuid.uuid4().hex[:12]}")
    admin = create_async_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f"CREATE DATABASE {fresh.database}"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(libpq_environment(fresh))
        done = await asyncio.to_thread(
            subprocess.run,
            [pg_restore, "--no-owner", "--exit-on-error", "--dbname", str(fresh.database), dump],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return await _restored_words(settings, fresh.render_as_string(hide_password=False))
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f"DROP DATABASE IF EXISTS {fresh.database} WITH (FORCE)"))
        await admin.dispose()


def test_postgres_without_pg_dump_refuses_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRUSTLINE_DATABASE_URL", "postgresql+asyncpg://u:secret@db:5432/x")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert main(["backup", "--out", str(tmp_path / "out")]) == 2
    said = capsys.readouterr()
    assert said.err.count("\n") == 1 and "pg_dump is not on PATH" in said.err
    assert "secret" not in said.err
    assert not (tmp_path / "out").exists()  # nothing written first


def test_missing_sqlite_file_is_refused_not_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nothing.sqlite3"
    monkeypatch.setenv("TRUSTLINE_DATABASE_URL", f"sqlite+aiosqlite:///{missing}")
    assert main(["backup", "--out", str(tmp_path / "out")]) == 2
    assert "no SQLite database" in capsys.readouterr().err
    assert not missing.exists() and not (tmp_path / "out").exists()


def test_sqlite_file_in_a_folder_with_odd_characters(tmp_path: Path) -> None:
    folder = tmp_path / "school data #1 ?"
    folder.mkdir()
    source = folder / "trustline.sqlite3"
    with contextlib.closing(sqlite3.connect(source)) as db, db:
        db.execute("CREATE TABLE t (v TEXT)")
        db.execute("INSERT INTO t VALUES ('kept')")
    copy = backup_sqlite(source, tmp_path / "copy.sqlite3")
    with contextlib.closing(sqlite3.connect(copy)) as db:
        assert db.execute("SELECT v FROM t").fetchall() == [("kept",)]


def test_libpq_environment_carries_the_password_and_the_ssl_mode() -> None:
    url = make_url("postgresql+asyncpg://tl:p%40ss@db.internal:6432/trustline?ssl=true")
    assert libpq_environment(url) == {
        "PGHOST": "db.internal",
        "PGPORT": "6432",
        "PGUSER": "tl",
        "PGPASSWORD": "p@ss",
        "PGDATABASE": "trustline",
        "PGSSLMODE": "require",
    }
