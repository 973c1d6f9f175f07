"""Shredded is gone, backups included (issue 15, point 5): a pg_dump and a copy of the SQLite
file taken before a case was shredded, restored afterwards and opened with the real Vault
and every key that is left (the master key and the remaining period keys), give none of
the case back. Cases still alive, of the same month or of a later one, open."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess  # noqa: S404 (pg_restore, with an argument list)
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import make_url, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.app import App
from bot.cli.backup import backup_postgres, backup_sqlite, libpq_environment
from bot.config import Settings
from bot.crypto import DecryptionError, PeriodKeyMissing, period_of
from bot.crypto.periods import period_end
from bot.db.models import AuditEntry, Case, CaseMessage, Member
from bot.db.session import make_engine, make_sessionmaker
from bot.services.routing import queue
from bot.services.security import keys, retention
from bot.services.security.vault import Vault
from fake_telegram import FakeBotAPI, TgUser
from tests.conftest import FakeClock
from tests.faults.support import case_of, command, psychologist, settled, stored_texts

SECRET = "меня бьют дома, код 4417"


def _is_postgres(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


async def _backup(settings: Settings, folder: Path) -> Path:
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        return await asyncio.to_thread(
            backup_sqlite, Path(url.database), folder / "before.sqlite3"
        )
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        pytest.skip("pg_dump is not installed (CI has it with the postgresql client)")
    return await asyncio.to_thread(backup_postgres, pg_dump, url, folder / "before.pgdump")


async def _restore(settings: Settings, dump: Path) -> str:
    """The backup as a database of its own: the SQLite copy as it is, the dump restored with
    pg_restore into a fresh PostgreSQL database."""
    if not _is_postgres(settings.database_url):
        return f"sqlite+aiosqlite:///{dump}"
    pg_restore = shutil.which("pg_restore")
    if pg_restore is None:
        pytest.skip("pg_restore is not installed (CI has it with the postgresql client)")
    source = make_url(settings.database_url)
    fresh = f"trustline_restored_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(
        source.set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f"CREATE DATABASE {fresh}"))
    finally:
        await admin.dispose()
    target = source.set(database=fresh)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(libpq_environment(target))
    done = await asyncio.to_thread(
        subprocess.run,
        [pg_restore, "--no-owner", "--dbname", fresh, str(dump)],
        env=env,
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-500:]
    return target.render_as_string(hide_password=False)


async def _drop(url: str) -> None:
    if not _is_postgres(url):
        return
    parsed = make_url(url)
    admin = create_async_engine(
        parsed.set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f"DROP DATABASE IF EXISTS {parsed.database} WITH (FORCE)"))
    finally:
        await admin.dispose()


def _keys_left(app: App, settings: Settings) -> Vault:
    """A vault as a new process would build it now: the master key as configured and the
    period key directory read afresh (no key cached in memory)."""
    return Vault(
        keys.load_master_keyring(settings),
        app.rt.vault.pseudonyms,
        periods=keys.load_period_keys(settings),
    )


async def _open_texts(url: str, code: str, vault: Vault) -> list[str]:
    """Every message body of the case in the database at `url`, opened with `vault`."""
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            case = await session.scalar(select(Case).where(Case.code == code))
            assert case is not None
            rows = (
                await session.scalars(
                    select(CaseMessage)
                    .where(CaseMessage.case_id == case.id, CaseMessage.body_enc.is_not(None))
                    .order_by(CaseMessage.created_at)
                )
            ).all()
            assert rows, "the backup holds the case's sealed messages"
            return [
                vault.open_text_for_case(case, f"msg/{m.id}", "body", m.body_enc) for m in rows
            ]
    finally:
        await engine.dispose()


async def _wrapped(url: str, code: str) -> tuple[bytes, str, str | None]:
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            case = await session.scalar(select(Case).where(Case.code == code))
            assert case is not None and case.wrapped_key is not None and case.kek_id
            return case.wrapped_key, case.kek_id, case.key_period
    finally:
        await engine.dispose()


async def test_a_backup_taken_before_a_shred_opens_nothing_after_it(
    app: App, fake_api: FakeBotAPI, clock: FakeClock, settings: Settings, tmp_path: Path
) -> None:
    user, other, psy = TgUser(9301, "Aibike"), TgUser(9302, "Dana"), TgUser(9391, "Psy")
    member = await psychologist(app, psy)
    fake_api.text_message(user, SECRET)
    await settled(app, fake_api)
    case = await case_of(app, user)
    command(fake_api, psy, f"/take {case.code}")
    await settled(app, fake_api)
    fake_api.text_message(psy, "Ты не виноват.")
    await settled(app, fake_api)
    async with app.sessionmaker() as session, session.begin():
        holder, stored = await session.get(Member, member.id), await session.get(Case, case.id)
        assert holder is not None and stored is not None
        await queue.close(session, app.rt, holder, stored, "resolved")
    fake_api.text_message(other, "мне страшно идти в школу")  # open, same month
    await settled(app, fake_api)
    still_open = await case_of(app, other)
    period = period_of(case.created_at)
    assert (case.key_period, still_open.key_period) == (period, period)

    dump = await _backup(settings, tmp_path)
    before = await _restore(settings, dump)
    try:
        # The check below can fail: with the keys of today the backup opens.
        opened = await _open_texts(before, case.code, _keys_left(app, settings))
        assert opened == [SECRET, "Ты не виноват."]
    finally:
        await _drop(before)

    # Past retention, and past the month's end plus retention: the month's key is spent.
    retention_days = app.settings.retention_days
    spent_at = period_end(period) + timedelta(days=retention_days)
    clock.advance(seconds=(spent_at - app.rt.now()).total_seconds() + 3600)
    report = await retention.run_retention(app.sessionmaker, app.rt)
    assert report.cases_shredded == 1
    assert period in report.period_keys_destroyed
    assert report.keys_settled >= 1  # the open case moved to the current month's key
    assert not keys.period_key_directory(settings).joinpath(f"{period}.key").exists()

    restored = await _restore(settings, dump)
    try:
        left = _keys_left(app, settings)
        assert period not in left.periods.periods()
        with pytest.raises(PeriodKeyMissing, match=period):
            await _open_texts(restored, case.code, left)
        # Not by any other key either: the master key opens the outer layer, and no period
        # key that is left opens what it wraps.
        wrapped, kek_id, named = await _wrapped(restored, case.code)
        assert named == period
        inner = left.keyring.unwrap(wrapped, kek_id, keys.case_key_context(case.code))
        assert left.periods.periods(), "the current month has a key of its own"
        for remaining in left.periods.periods():
            with pytest.raises(DecryptionError):
                left.periods.get(remaining).unwrap(inner, keys.case_key_context(case.code))
    finally:
        await _drop(restored)

    # What is alive still opens: the case that stayed open (now under this month's key)
    # and a case opened now, in a later month.
    async with app.sessionmaker() as session:
        moved = await session.get(Case, still_open.id)
        assert moved is not None and moved.key_period == period_of(app.rt.now())
        destroyed = (
            await session.scalars(
                select(AuditEntry.detail).where(AuditEntry.event == "period_key_destroyed")
            )
        ).all()
        assert len(destroyed) == 1 and period in destroyed[0]
    assert await stored_texts(app, still_open.id) == ["мне страшно идти в школу"]
    fake_api.text_message(TgUser(9303, "Erlan"), "помогите, меня травят")
    await settled(app, fake_api)
    later = await case_of(app, TgUser(9303, "Erlan"))
    assert later.key_period == period_of(app.rt.now()) != period
    assert await stored_texts(app, later.id) == ["помогите, меня травят"]

    # A second pass destroys nothing more and keeps what is in use.
    again = await retention.run_retention(app.sessionmaker, app.rt)
    assert again.period_keys_destroyed == ()
    assert period_of(app.rt.now()) in _keys_left(app, settings).periods.periods()
