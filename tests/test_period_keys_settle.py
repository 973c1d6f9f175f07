"""Existing data moves under period keys (migration 0016): a case written before, wrapped by
the master key alone, is rewrapped by the next retention pass under its period's key and
still opens; a key that does not open is logged and passed over, never stopping the pass;
an open case follows the months; a period key still needed is never destroyed."""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy import select, update

from bot.app import App
from bot.cli import main
from bot.config import Settings
from bot.crypto import MasterKey, MasterKeyring, period_of
from bot.db.models import Case, DeadLetter
from bot.services import deadletters
from bot.services.security import keys, retention
from bot.services.security.vault import Vault
from fake_telegram import FakeBotAPI, TgUser
from tests.conftest import FakeClock
from tests.faults.support import case_of, settled, stored_texts


async def _as_before_0016(app: App, case_id: int) -> bytes:
    """Rewrite the case's key as migration 0015 left it: the data key wrapped by the master
    key alone, no period."""
    async with app.sessionmaker() as session, session.begin():
        case = await session.get(Case, case_id)
        assert case is not None
        secret = app.rt.vault.case_key(case).secret
        wrapped, kek_id = app.rt.vault.keyring.wrap(secret, keys.case_key_context(case.code))
        await session.execute(
            update(Case)
            .where(Case.id == case_id)
            .values(wrapped_key=wrapped, kek_id=kek_id, key_period=None)
        )
    app.rt.vault.forget_cached_keys()
    return secret


async def test_cases_from_before_period_keys_are_rewrapped_and_still_open(
    app: App, fake_api: FakeBotAPI, caplog: pytest.LogCaptureFixture
) -> None:
    users = [TgUser(9501 + i, f"S{i}") for i in range(3)]
    for i, user in enumerate(users):
        fake_api.text_message(user, f"мне плохо {i}")
    await settled(app, fake_api)
    found = [await case_of(app, user) for user in users]
    secrets = [await _as_before_0016(app, case.id) for case in found]
    assert await stored_texts(app, found[0].id) == ["мне плохо 0"]  # opens as before
    async with app.sessionmaker() as session, session.begin():
        # A row whose key no loaded master key opens (a benchmark's, a restore gone wrong).
        await session.execute(
            update(Case).where(Case.id == found[1].id).values(kek_id="0000000000000000")
        )

    with caplog.at_level(logging.ERROR):
        report = await retention.run_retention(app.sessionmaker, app.rt)
    assert report.keys_settled == 2
    assert f"case_key_unreadable case={found[1].code}" in caplog.text
    now_period = period_of(app.rt.now())
    async with app.sessionmaker() as session:
        ids = [f.id for f in found]
        listed = (await session.scalars(select(Case).where(Case.id.in_(ids)))).all()
        rows = {c.id: c for c in listed}
    for index in (0, 2):
        case = rows[found[index].id]
        assert case.key_period == now_period
        assert app.rt.vault.case_key(case).secret == secrets[index]  # the same data key
        assert await stored_texts(app, case.id) == [f"мне плохо {index}"]
    assert rows[found[1].id].key_period is None  # left as it was, for a person to look at


async def test_an_open_case_follows_the_months_and_its_old_key_waits(
    app: App, fake_api: FakeBotAPI, clock: FakeClock
) -> None:
    user = TgUser(9511, "Dana")
    fake_api.text_message(user, "мне страшно")
    await settled(app, fake_api)
    case = await case_of(app, user)
    first = case.key_period
    assert first == period_of(app.rt.now())

    clock.advance(days=40)  # a later month; the case is still open
    report = await retention.run_retention(app.sessionmaker, app.rt)
    assert report.keys_settled == 1 and report.period_keys_destroyed == ()
    async with app.sessionmaker() as session:
        moved = await session.get(Case, case.id)
        assert moved is not None and moved.key_period == period_of(app.rt.now()) != first
    assert await stored_texts(app, case.id) == ["мне страшно"]
    # Nothing is under the first month's key any more, but a backup of that month still
    # needs it for this open case until the month is retention_days behind.
    assert first in app.rt.vault.periods.periods()

    clock.advance(days=app.settings.retention_days)
    report = await retention.run_retention(app.sessionmaker, app.rt)
    assert first in report.period_keys_destroyed
    assert await stored_texts(app, case.id) == ["мне страшно"]  # alive, under a later key
    assert report.keys_settled == 1  # moved to the month it is now

    # The closing month's key is kept while a case closed in it is not yet shredded.
    async with app.sessionmaker() as session, session.begin():
        await session.execute(
            update(Case)
            .where(Case.id == case.id)
            .values(status="closed", closed_at=app.rt.now(), outcome="resolved")
        )
    closing = period_of(app.rt.now())
    clock.advance(days=35)
    report = await retention.run_retention(app.sessionmaker, app.rt)
    assert report.cases_shredded == 0 and closing in app.rt.vault.periods.periods()
    clock.advance(days=app.settings.retention_days)
    report = await retention.run_retention(app.sessionmaker, app.rt)
    assert report.cases_shredded == 1
    assert closing in report.period_keys_destroyed
    assert app.rt.vault.periods.periods() == []  # no case is under any key now


async def test_the_cli_lists_period_keys_and_names_a_missing_one(
    app: App,
    fake_api: FakeBotAPI,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake_api.text_message(TgUser(9521, "Erlan"), "меня травят")
    await settled(app, fake_api)
    period = period_of(app.rt.now())
    monkeypatch.setenv("TRUSTLINE_DATABASE_URL", settings.database_url)
    assert settings.master_key is not None
    monkeypatch.setenv("TRUSTLINE_MASTER_KEY", settings.master_key.get_secret_value())

    assert await asyncio.to_thread(main, ["keys", "periods"]) == 0
    said = capsys.readouterr().out
    assert f"{period}: 1 case under it" in said and "MISSING" not in said

    assert await asyncio.to_thread(main, ["retention", "run"]) == 0
    assert "Period keys: 0 case keys moved" in capsys.readouterr().out

    # The key directory lost (a restore without the keys): named, and a non-zero exit.
    key_file = keys.period_key_directory(settings) / f"{period}.key"
    key_file.rename(key_file.with_name("elsewhere"))
    assert await asyncio.to_thread(main, ["keys", "periods"]) == 1
    assert f"MISSING {period}: 1 case" in capsys.readouterr().out


async def test_rotation_keeps_a_dead_letter_under_its_period(app: App) -> None:
    failure = deadletters.Failure(place="handlers.student:1", error="ValueError", attempts=3)
    async with app.sessionmaker() as session, session.begin():
        letter = await deadletters.record(
            session, app.rt.vault, 777, {"update_id": 777}, failure, now=app.rt.now()
        )
        letter_id = letter.id
    old, new = app.rt.vault.keyring, MasterKey.generate()
    async with app.sessionmaker() as session, session.begin():
        assert await keys.rewrap_all(session, old, new) >= 1
    only_new = Vault(MasterKeyring(new), app.rt.vault.pseudonyms, periods=app.rt.vault.periods)
    async with app.sessionmaker() as session:
        stored = await session.get(DeadLetter, letter_id)
        assert stored is not None and stored.kek_id == new.key_id
        assert stored.wrapped_key is not None and stored.wrapped_key.startswith(b"P")
        assert await deadletters.sealed_update(session, only_new, letter_id) == {"update_id": 777}
